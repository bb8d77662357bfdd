import { TwinError } from '../errors.ts'
import type { TwinView } from '../model/record.ts'

/**
 * `where` filters of `GET /twins` (docs/http.md):
 *
 *   where=<field>:<op>[:<value>]      e.g. context.floor:gt:3, attributes.building:eq:b1
 *
 * `field` is `context.<path>` or `attributes.<name>` (a path is dot-separated
 * names of letters, digits, `_` and `-`). Ops: eq, ne (value compared as JSON
 * when it parses as a number, true, false or null, else as text), gt, gte, lt,
 * lte (numbers), in (values separated by `|`), exists, missing. Several
 * `where` are ANDed. A filter that does not parse is a 400, never a silent
 * match-all.
 */
export type Predicate = (twin: TwinView) => boolean

export const MAX_WHERE = 8
const FIELD = /^(context|attributes)((?:\.[A-Za-z0-9_-]{1,64}){1,8})$/
const OPS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'exists', 'missing'] as const
type Op = (typeof OPS)[number]

const bad = (message: string) => new TwinError('TWIN_ERR_BAD_REQUEST', message)

export function parseWhere(where: readonly string[]): Predicate | undefined {
  if (where.length === 0) return undefined
  if (where.length > MAX_WHERE) throw bad(`at most ${MAX_WHERE} where filters`)
  const predicates = where.map(parseOne)
  return (twin) => predicates.every((p) => p(twin))
}

function parseOne(filter: string): Predicate {
  const first = filter.indexOf(':')
  const second = first < 0 ? -1 : filter.indexOf(':', first + 1)
  const field = first < 0 ? filter : filter.slice(0, first)
  const op = (second < 0 ? filter.slice(first + 1) : filter.slice(first + 1, second)) as Op
  const value = second < 0 ? undefined : filter.slice(second + 1)
  const shown = JSON.stringify(filter.slice(0, 80))
  const m = FIELD.exec(field)
  if (first < 0 || !m) throw bad(`where=${shown}: expected <field>:<op>[:<value>] with field context.<path> or attributes.<name>, e.g. context.floor:gt:3`)
  if (!OPS.includes(op)) throw bad(`where=${shown}: unknown op "${op.slice(0, 16)}"; expected one of ${OPS.join(', ')}`)
  const root = m[1] as 'context' | 'attributes'
  const path = m[2]!.slice(1).split('.')
  const read = (twin: TwinView): unknown => {
    let at: unknown = root === 'context' ? twin.context : twin.attributes
    for (const name of path) {
      if (at === null || typeof at !== 'object' || !Object.hasOwn(at, name)) return undefined
      at = (at as Record<string, unknown>)[name]
    }
    return at
  }
  if (op === 'exists' || op === 'missing') {
    if (value !== undefined) throw bad(`where=${shown}: ${op} takes no value`)
    return op === 'exists' ? (t) => read(t) !== undefined : (t) => read(t) === undefined
  }
  if (value === undefined) throw bad(`where=${shown}: ${op} needs a value, e.g. ${field}:${op}:3`)
  switch (op) {
    case 'eq':
      return equalTo(value, read)
    case 'ne': {
      const eq = equalTo(value, read)
      return (t) => !eq(t)
    }
    case 'in': {
      const eqs = value.split('|').map((v) => equalTo(v, read))
      return (t) => eqs.some((eq) => eq(t))
    }
    default: {
      const n = Number(value)
      if (value.trim() === '' || !Number.isFinite(n)) throw bad(`where=${shown}: ${op} compares numbers; "${value.slice(0, 32)}" is not one`)
      const cmp = { gt: (a: number) => a > n, gte: (a: number) => a >= n, lt: (a: number) => a < n, lte: (a: number) => a <= n }[op]
      return (t) => {
        const v = read(t)
        return typeof v === 'number' && cmp(v)
      }
    }
  }
}

/** `3` matches the number 3 and the text "3"; `true`/`false`/`null` their JSON values and their text. */
function equalTo(raw: string, read: (t: TwinView) => unknown): Predicate {
  let parsed: unknown = raw
  if (raw === 'true' || raw === 'false' || raw === 'null') parsed = JSON.parse(raw)
  else if (raw.trim() !== '' && Number.isFinite(Number(raw))) parsed = Number(raw)
  return (t) => {
    const v = read(t)
    return v === parsed || v === raw
  }
}
