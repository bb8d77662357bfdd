import type { StateValue } from 'xstate'
import type { TwinDefinition } from '../definitions/defineTwin.ts'
import type { CountDelta, CountKey } from '../model/entries.ts'

/**
 * Where a twin counts (model/entries.ts CountKey), from its state value, its
 * tags and its definition's indicators. Pure; the batch turns the difference
 * before and after into count deltas committed with the twin.
 */
export function countKeys(definition: TwinDefinition, value: StateValue, context: unknown, tags: Iterable<string>): CountKey[] {
  const type = definition.type
  const keys: CountKey[] = [{ type, kind: 'total', name: '' }]
  for (const path of statePaths(value)) keys.push({ type, kind: 'state', name: path })
  for (const tag of tags) keys.push({ type, kind: 'tag', name: tag })
  for (const [name, holds] of Object.entries(definition.indicators ?? {})) {
    if (indicatorHolds(holds, value, context)) keys.push({ type, kind: 'indicator', name })
  }
  return keys
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

function indicatorHolds(holds: (twin: { value: StateValue; context: any }) => boolean, value: StateValue, context: unknown): boolean {
  try {
    return holds({ value, context }) === true
  } catch {
    return false
  }
}
