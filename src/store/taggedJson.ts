/**
 * The faithful encoding of values JSON cannot carry (model/values.ts), used
 * for the parts of a twin record that hold them. Each such value becomes a
 * tagged object; everything else stays plain JSON:
 *
 *   {"$t":"u"}                              undefined
 *   {"$t":"n","v":"NaN"|"Infinity"|"-Infinity"|"-0"}
 *   {"$t":"b","v":"<decimal>"}              BigInt
 *   {"$t":"d","v":<ms>|null}                Date (null: an invalid Date)
 *   {"$t":"r","v":"<source>","f":"<flags>"} RegExp
 *   {"$t":"m","v":[[k, v], …]}              Map, in insertion order
 *   {"$t":"s","v":[…]}                      Set, in insertion order
 *   {"$t":"_"}                              an array hole
 *   {"$t":"o","v":{…}}                      a plain object that has a "$t" key itself
 */
const TAG = '$t'

export function encodeTagged(value: unknown): unknown {
  switch (typeof value) {
    case 'undefined':
      return { [TAG]: 'u' }
    case 'number':
      if (Number.isFinite(value) && !Object.is(value, -0)) return value
      return { [TAG]: 'n', v: Object.is(value, -0) ? '-0' : String(value) }
    case 'bigint':
      return { [TAG]: 'b', v: value.toString() }
    case 'object':
      break
    default:
      return value
  }
  if (value === null) return null
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length)
    for (let i = 0; i < value.length; i++) out[i] = i in value ? encodeTagged(value[i]) : { [TAG]: '_' }
    return out
  }
  if (value instanceof Date) {
    const ms = value.getTime()
    return { [TAG]: 'd', v: Number.isNaN(ms) ? null : ms }
  }
  if (value instanceof RegExp) return { [TAG]: 'r', v: value.source, f: value.flags }
  if (value instanceof Map) return { [TAG]: 'm', v: Array.from(value, ([k, v]) => [encodeTagged(k), encodeTagged(v)]) }
  if (value instanceof Set) return { [TAG]: 's', v: Array.from(value, encodeTagged) }
  const out: Record<string, unknown> = {}
  for (const key in value) out[key] = encodeTagged((value as Record<string, unknown>)[key])
  return TAG in out ? { [TAG]: 'o', v: out } : out
}

export function decodeTagged(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length)
    for (let i = 0; i < value.length; i++) {
      const item = value[i]
      // A hole stays a hole: nothing is assigned at i.
      if (!isTag(item, '_')) out[i] = decodeTagged(item)
    }
    return out
  }
  const tagged = value as Record<string, unknown>
  const tag = tagged[TAG]
  if (typeof tag === 'string') return decodeTag(tag, tagged)
  const out: Record<string, unknown> = {}
  for (const key in tagged) out[key] = decodeTagged(tagged[key])
  return out
}

function decodeTag(tag: string, t: Record<string, unknown>): unknown {
  switch (tag) {
    case 'u':
      return undefined
    case 'n':
      return t.v === '-0' ? -0 : Number(t.v)
    case 'b':
      return BigInt(t.v as string)
    case 'd':
      return new Date(t.v === null ? Number.NaN : (t.v as number))
    case 'r':
      return new RegExp(t.v as string, t.f as string)
    case 'm':
      return new Map((t.v as Array<[unknown, unknown]>).map(([k, v]) => [decodeTagged(k), decodeTagged(v)]))
    case 's':
      return new Set((t.v as unknown[]).map(decodeTagged))
    case 'o': {
      const inner = t.v as Record<string, unknown>
      const out: Record<string, unknown> = {}
      for (const key in inner) out[key] = decodeTagged(inner[key])
      return out
    }
    default:
      throw new SyntaxError(`unknown value tag "${tag.slice(0, 16)}" in a stored record`)
  }
}

function isTag(value: unknown, tag: string): boolean {
  return typeof value === 'object' && value !== null && (value as Record<string, unknown>)[TAG] === tag
}
