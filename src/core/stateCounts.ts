import type { StateValue } from 'xstate'
import type { TwinDefinition } from '../definitions/defineTwin.ts'
import type { CountDelta, CountKey } from '../model/entries.ts'
import type { TwinRecord } from '../model/record.ts'

/**
 * Where a twin counts (model/entries.ts CountKey): its type, its definition
 * version, every active state node, its tags and the indicators that hold
 * for it. Tags and indicators depend on the definition, so a committed record
 * keeps the ones it was counted with (`g`, `i`): the next commit takes them
 * out of the counts exactly, even after the definition changed. Pure.
 */
export function countKeys(type: string, record: TwinRecord, tags: Iterable<string> = record.g ?? [], indicators: Iterable<string> = record.i ?? []): CountKey[] {
  const keys: CountKey[] = [{ type, kind: 'total', name: '' }, { type, kind: 'version', name: String(record.d) }]
  for (const path of statePaths(record.v)) keys.push({ type, kind: 'state', name: path })
  for (const tag of tags) keys.push({ type, kind: 'tag', name: tag })
  for (const name of indicators) keys.push({ type, kind: 'indicator', name })
  return keys
}

/**
 * Sets on the record the tags of its state and the indicators of its
 * definition that hold for it (what it is counted with), reusing the
 * previous record's lists when they are the same.
 */
export function stampCounted(definition: TwinDefinition, record: TwinRecord, tags: ReadonlySet<string>, prev: TwinRecord | null): void {
  record.g = prev?.g && sameList(prev.g, tags) ? prev.g : [...tags]
  const held = indicatorsHolding(definition, record.v, record.c)
  if (held.length) record.i = prev?.i && sameList(prev.i, held) ? prev.i : held
  else delete record.i
}

/** True when a committed record counts where the new one does: nothing to change in the counts (the usual step). */
export function countedSame(before: TwinRecord, after: TwinRecord): boolean {
  return before.d === after.d && before.g !== undefined && before.g === after.g && before.i === after.i && sameValue(before.v, after.v)
}

function sameList(list: readonly string[], other: Iterable<string>): boolean {
  let n = 0
  for (const item of other) if (list[n++] !== item) return false
  return n === list.length
}

function sameValue(a: StateValue, b: StateValue): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object') return false
  const keys = Object.keys(a)
  if (keys.length !== Object.keys(b).length) return false
  return keys.every((k) => b[k] !== undefined && sameValue(a[k] as StateValue, b[k] as StateValue))
}

/** The names of the definition's indicators that hold for a state value and context (one that throws does not). */
export function indicatorsHolding(definition: TwinDefinition, value: StateValue, context: unknown): string[] {
  const held: string[] = []
  for (const [name, holds] of Object.entries(definition.indicators ?? {})) {
    try {
      if (holds({ value, context }) === true) held.push(name)
    } catch {
      // counts as false
    }
  }
  return held
}

/** Every active state node of a value as a dotted path, ancestors first: `{ normal: 'moving' }` -> `normal`, `normal.moving`. */
export function statePaths(value: StateValue, prefix = ''): string[] {
  if (typeof value === 'string') return [prefix + value]
  const out: string[] = []
  for (const key of Object.keys(value)) {
    out.push(prefix + key)
    const child = value[key]
    if (child !== undefined) out.push(...statePaths(child as StateValue, `${prefix}${key}.`))
  }
  return out
}

/** +1 for keys only in `after`, -1 for keys only in `before` (null: the twin did not exist). */
export function addCountDeltas(into: Map<string, CountDelta>, before: readonly CountKey[] | null, after: readonly CountKey[]): void {
  const was = new Set((before ?? []).map(keyOf))
  const is = new Set(after.map(keyOf))
  for (const k of after) if (!was.has(keyOf(k))) bump(into, k, 1)
  for (const k of before ?? []) if (!is.has(keyOf(k))) bump(into, k, -1)
}

function bump(into: Map<string, CountDelta>, key: CountKey, delta: number): void {
  const id = keyOf(key)
  const d = into.get(id)
  if (d) {
    d.delta += delta
    if (d.delta === 0) into.delete(id)
  } else {
    into.set(id, { ...key, delta })
  }
}

function keyOf(k: CountKey): string {
  return `${k.kind}\u0000${k.type}\u0000${k.name}`
}
