import { matchesState, type StateValue } from 'xstate'
import type { SubscribeMessage, Where } from '../../client/protocol.ts'
import type { TwinRegistry } from '../../definitions/registry.ts'
import type { TwinView } from '../../model/record.ts'

/**
 * Which twins a subscription covers (docs/protocol.md, "Filters"). `type` and
 * `ids` are static; `state`, `tags` and `where` depend on the twin's current
 * state, so a twin can enter and leave the subscription as it changes.
 */
export interface TwinFilter {
  type: string
  ids: Set<string> | null
  states: string[] | null
  /** true when the filter looks at state (a change can make a twin leave it) */
  dynamic: boolean
  usesTags: boolean
  /** the static part: type and ids */
  covers(type: string, id: string): boolean
  /** the whole filter, on a twin of a covered type and id */
  matches(view: TwinView): boolean
}

export function compileFilter(msg: SubscribeMessage): TwinFilter {
  const ids = msg.ids ? new Set(msg.ids) : null
  const states = msg.state === undefined ? null : (Array.isArray(msg.state) ? msg.state : [msg.state])
  const tags = msg.tags ?? null
  const where = (msg.where ?? []).map(compileWhere)
  const type = msg.type
  return {
    type,
    ids,
    states,
    dynamic: states !== null || tags !== null || where.length > 0,
    usesTags: tags !== null,
    covers: (t, id) => t === type && (!ids || ids.has(id)),
    matches(view) {
      if (states && !states.some((s) => matchesState(s as StateValue, view.value as StateValue))) return false
      if (tags && !tags.some((t) => view.tags?.includes(t))) return false
      for (const predicate of where) if (!predicate(view)) return false
      return true
    },
  }
}

function compileWhere(w: Where): (view: TwinView) => boolean {
  const [root, ...path] = w.path.split('.')
  const read = (view: TwinView): unknown => {
    let at: unknown = root === 'context' ? view.context : view.attributes
    for (const key of path) {
      if (!at || typeof at !== 'object' || Array.isArray(at) || !Object.hasOwn(at, key)) return undefined
      at = (at as Record<string, unknown>)[key]
    }
    return at
  }
  const v = w.value
  switch (w.op) {
    case 'exists': return (view) => (read(view) !== undefined) === (v !== false)
    case 'eq': return (view) => equal(read(view), v)
    case 'ne': return (view) => !equal(read(view), v)
    case 'in': return (view) => { const x = read(view); return (v as unknown[]).some((item) => equal(x, item)) }
    // Ordering compares numbers with numbers and strings with strings; anything else does not match.
    case 'lt': return (view) => compare(read(view), v) < 0
    case 'lte': return (view) => compare(read(view), v) <= 0
    case 'gt': return (view) => compare(read(view), v) > 0
    case 'gte': return (view) => compare(read(view), v) >= 0
  }
}

function compare(a: unknown, b: unknown): number {
  if (typeof a !== typeof b || (typeof a !== 'number' && typeof a !== 'string')) return Number.NaN
  return a < (b as typeof a) ? -1 : a > (b as typeof a) ? 1 : 0
}

/** JSON equality for the small values predicates compare (scalars, or JSON-equal objects). */
function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false
  return JSON.stringify(a) === JSON.stringify(b)
}

/**
 * XState tags of twins read from Redis (records hold no tags; change notices
 * do). Tags belong to state nodes, so they depend only on (type, state value):
 * cached per pair, bounded.
 */
export class TagResolver {
  private readonly cache = new Map<string, string[]>()

  constructor(private readonly registry: TwinRegistry, private readonly max = 10_000) {}

  /** Sets `view.tags` from its state value when the state has tags. */
  attach(view: TwinView): TwinView {
    if (view.tags) return view
    const key = `${view.type}\u0000${typeof view.value === 'string' ? view.value : JSON.stringify(view.value)}`
    let tags = this.cache.get(key)
    if (!tags) {
      tags = [...(this.registry.tagsOf(view.type, view.value as StateValue, view.context) ?? [])]
      if (this.cache.size >= this.max) this.cache.clear()
      this.cache.set(key, tags)
    }
    if (tags.length) view.tags = tags
    return view
  }
}
