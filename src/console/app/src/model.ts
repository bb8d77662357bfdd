import { api, ApiError } from './api.ts'

/** `GET /whoami` */
export interface Principal {
  name: string
  scopes: Array<'read' | 'write' | 'admin'>
  auth: 'tokens' | 'open'
}

/** `GET /twin-types` statechart (src/api/statechart.ts) */
export interface StateInfo {
  key: string
  path: string
  type: string
  initial?: string
  states?: StateInfo[]
}
export interface TransitionInfo {
  source: string
  event: string
  targets: string[]
  guard?: string
  actions: string[]
  after?: string | number
  always?: true
}
export interface StateChart {
  initial: string | null
  states: StateInfo[]
  transitions: TransitionInfo[]
  delays: Record<string, number | null>
}
export interface TwinType {
  type: string
  version: number
  description?: string
  topic: string
  events: Record<string, Record<string, unknown>>
  statechart: StateChart
}
export interface RuleInput {
  twin: string
  changes: string
  events: string[]
  groupBy: string
}
export interface Rule {
  name: string
  version: number
  description?: string
  inputs: RuleInput[]
  statechart: StateChart
}
export interface TwinTypes {
  types: TwinType[]
  rules: Rule[]
}

/** `GET /twins/:type/:id/history` entry */
export interface HistoryEntry {
  rev: number
  at: number
  event: string
  from: unknown
  to: unknown
  emitted: string[]
}

/** A pending command on the twin view (docs/protocol.md#commands-to-devices). */
export interface CommandView {
  id: string
  payload?: unknown
  status: 'pending' | 'acked' | 'rejected' | 'timedOut' | string
  by?: string
  sentAt?: number
  due?: number
  doneAt?: number
  reported?: unknown
  reason?: string
}

/**
 * `GET /twins/counts` (contract agreed with the core; 404 until the engine serves it):
 * `{ types: { <type>: { total, states: { <dotted state path>: n }, tags: { <tag>: n } } } }`.
 */
export interface TypeCounts {
  total: number
  states: Record<string, number>
  tags?: Record<string, number>
  indicators?: Record<string, number>
}
export interface Counts {
  types: Record<string, TypeCounts>
}

let types: Promise<TwinTypes> | null = null
/** Definitions change only with a restart of the engine; one read per page load. */
export function twinTypes(): Promise<TwinTypes> {
  types ??= api<TwinTypes>('twin-types').catch((err) => {
    types = null
    throw err
  })
  return types
}

export function chartOf(all: TwinTypes, type: string): { chart: StateChart; type?: TwinType; rule?: Rule } | null {
  const t = all.types.find((x) => x.type === type)
  if (t) return { chart: t.statechart, type: t }
  const r = all.rules.find((x) => x.name === type)
  if (r) return { chart: r.statechart, rule: r }
  return null
}

/** Dotted paths of every active state node, ancestors included (`normal`, `normal.moving`). */
export function activePaths(value: unknown, prefix = ''): string[] {
  const join = (k: string) => (prefix ? `${prefix}.${k}` : k)
  if (typeof value === 'string') return [join(value)]
  if (value && typeof value === 'object') {
    const out: string[] = []
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out.push(join(k), ...activePaths(v, join(k)))
    }
    return out
  }
  return []
}

/** A state value as one line: `normal.moving`, `{a: x, b: y}` as `a.x | b.y`. */
export function stateText(value: unknown): string {
  if (typeof value === 'string') return value
  const leaves = activePaths(value).filter((p, _i, all) => !all.some((q) => q.startsWith(`${p}.`)))
  return leaves.join(' | ') || JSON.stringify(value)
}

/** Every state path of a chart (for filters and for the overview when counts are missing). */
export function allStatePaths(chart: StateChart): string[] {
  const out: string[] = []
  const walk = (states: StateInfo[]) => {
    for (const s of states) {
      out.push(s.path)
      if (s.states) walk(s.states)
    }
  }
  walk(chart.states)
  return out
}

export function hasScope(p: Principal | null, scope: 'read' | 'write' | 'admin'): boolean {
  return !!p && p.scopes.includes(scope)
}

export { ApiError }
