/**
 * What a twin may keep in its context, timers and output, and how apps see it.
 *
 * A twin's record is stored faithfully (store/twinRecords.ts): besides what
 * JSON carries, it keeps `undefined`, `NaN`, `±Infinity`, `-0`, `BigInt`,
 * `Date`, `Map`, `Set`, `RegExp` and array holes, so a twin restored from
 * Redis behaves exactly like the one in memory. What cannot be stored —
 * functions, symbols, instances of other classes, circular structures — is
 * refused at the step that produced it (TWIN_ERR_STEP_UNSTORABLE).
 *
 * Apps, MQTT consumers and rules see JSON (`toJsonValue`): a Date as its ISO
 * string, a BigInt as its decimal string, a Map as [key, value] pairs, a Set
 * as an array, NaN and ±Infinity as null, -0 as 0, undefined fields left out.
 */

/** `json`: JSON round-trips it exactly; `exotic`: storable, but only with the faithful encoding; or why it cannot be stored. */
export type ValueKind = { kind: 'json' } | { kind: 'exotic' } | { kind: 'invalid'; path: string; why: string }

const JSON_KIND: ValueKind = { kind: 'json' }
const EXOTIC_KIND: ValueKind = { kind: 'exotic' }
/** Deeper than this is refused: a record is per device, and the walk must stay bounded. */
const MAX_DEPTH = 64

/** Classifies a value (and everything it contains) by how it can be stored. */
export function inspectValue(value: unknown, path = 'context'): ValueKind {
  const state = { exotic: false, seen: new Set<object>() }
  const invalid = walk(value, path, 0, state)
  return invalid ?? (state.exotic ? EXOTIC_KIND : JSON_KIND)
}

type Walk = { exotic: boolean; seen: Set<object> }

function walk(value: unknown, path: string, depth: number, state: Walk): ValueKind | null {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return null
    case 'number':
      if (!Number.isFinite(value) || Object.is(value, -0)) state.exotic = true
      return null
    case 'undefined':
    case 'bigint':
      state.exotic = true
      return null
    case 'function':
      return { kind: 'invalid', path, why: 'a function' }
    case 'symbol':
      return { kind: 'invalid', path, why: 'a symbol' }
  }
  if (value === null) return null
  if (depth >= MAX_DEPTH) return { kind: 'invalid', path, why: `nested deeper than ${MAX_DEPTH} levels` }
  const object = value as object
  if (state.seen.has(object)) return { kind: 'invalid', path, why: 'a circular reference' }
  state.seen.add(object)
  try {
    return walkObject(object, path, depth, state)
  } finally {
    state.seen.delete(object)
  }
}

function walkObject(object: object, path: string, depth: number, state: Walk): ValueKind | null {
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) {
      if (!(i in object)) state.exotic = true
      const bad = walk(object[i], `${path}[${i}]`, depth + 1, state)
      if (bad) return bad
    }
    return null
  }
  if (object instanceof Date || object instanceof RegExp) {
    state.exotic = true
    return null
  }
  if (object instanceof Map) {
    state.exotic = true
    for (const [k, v] of object) {
      const bad = walk(k, `${path}<key>`, depth + 1, state) ?? walk(v, `${path}.get(${String(k).slice(0, 32)})`, depth + 1, state)
      if (bad) return bad
    }
    return null
  }
  if (object instanceof Set) {
    state.exotic = true
    for (const v of object) {
      const bad = walk(v, `${path}<item>`, depth + 1, state)
      if (bad) return bad
    }
    return null
  }
  const proto = Object.getPrototypeOf(object)
  if (proto !== Object.prototype && proto !== null) {
    return { kind: 'invalid', path, why: `an instance of ${(proto?.constructor?.name as string | undefined) ?? 'a class'} (keep plain data: objects, arrays, Date, Map, Set)` }
  }
  if (Object.getOwnPropertySymbols(object).length) return { kind: 'invalid', path, why: 'an object with symbol keys' }
  for (const key in object) {
    const bad = walk((object as Record<string, unknown>)[key], `${path}.${key}`, depth + 1, state)
    if (bad) return bad
  }
  return null
}

/** The JSON apps see of a storable value (see the module comment); JSON values are returned as they are. */
export function toJsonValue(value: unknown): unknown {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? (Object.is(value, -0) ? 0 : value) : null
    case 'bigint':
      return value.toString()
    case 'undefined':
      return undefined
    case 'object':
      break
    default:
      return value
  }
  if (value === null) return null
  if (Array.isArray(value)) return Array.from(value, (v) => (v === undefined ? null : toJsonValue(v)))
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString()
  if (value instanceof RegExp) return value.toString()
  if (value instanceof Map) return Array.from(value, ([k, v]) => [toJsonValue(k), toJsonValue(v)])
  if (value instanceof Set) return Array.from(value, (v) => toJsonValue(v))
  const out: Record<string, unknown> = {}
  for (const key in value) {
    const v = toJsonValue((value as Record<string, unknown>)[key])
    if (v !== undefined) out[key] = v
  }
  return out
}
