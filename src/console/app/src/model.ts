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
  /** the name to show (`meta: { label }`): imported AWS IoT Events models name states XState cannot use as keys */
  label?: string
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
  /** the indicators the definition declares (counted by GET /twins/counts; absent from engines before they were listed) */
  indicators?: string[]
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
 * `GET /twins/counts`: per type the twins in each state node (dotted paths,
 * ancestors included), per tag, per indicator and per stored definition
 * version; zeros are left out. Exact, kept by the engine at commit time.
 */
export interface TypeCounts {
  total: number
  states: Record<string, number>
  tags?: Record<string, number>
  indicators?: Record<string, number>
  versions?: Record<string, number>
}
export interface Counts {
  types: Record<string, TypeCounts>
}

/** The indicator online/offline are read from (the shipped twins declare it: `indicators: { online }`). */
export const ONLINE = 'online'

/** Online and offline twins of a type, when its definition declares the `online` indicator; else null. */
export function onlineOf(type: TwinType, counts: TypeCounts | undefined): { online: number; offline: number } | null {
  if (!counts) return null
  const declared = type.indicators ? type.indicators.includes(ONLINE) : counts.indicators?.[ONLINE] !== undefined
  if (!declared) return null
  const online = counts.indicators?.[ONLINE] ?? 0
  return { online, offline: Math.max(0, counts.total - online) }
}

/** `GET /health` (public): the parts the console shows. */
export interface Health {
  status: 'ok' | 'degraded'
  problems?: string[]
  roles?: string[]
  ingest?: { accepted: number }
  worker?: { applied: number; id: string } | null
  redis?: { status: 'up' | 'down' | 'refusing-writes'; reason?: string; since?: number }
  /** the definitions checked against the stored twins at start (api processes that ran the check) */
  definitions?: { versions: Record<string, number>; stored: Record<string, Record<string, number>>; problems: string[] }
}

/** `GET /cluster` (admin) */
export interface ClusterStatus {
  now: number
  workers: Array<{ id: string; lastHeartbeatMs: number; shards: number[]; versions?: Record<string, number> }>
  shards: Array<{ shard: number; owner: string | null; epoch: number; lag: number; oldestUnappliedMs: number; heldTwins?: number }>
}

/**
 * Types the live workers run at more than one definition version (a rolling
 * upgrade under way, or one stuck half done): type -> version -> workers.
 */
export function mixedVersions(workers: ClusterStatus['workers']): Map<string, Map<number, string[]>> {
  const byType = new Map<string, Map<number, string[]>>()
  for (const w of workers) {
    for (const [type, version] of Object.entries(w.versions ?? {})) {
      const versions = byType.get(type) ?? new Map<number, string[]>()
      versions.set(version, [...(versions.get(version) ?? []), w.id])
      byType.set(type, versions)
    }
  }
  for (const [type, versions] of byType) if (versions.size < 2) byType.delete(type)
  return byType
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

/**
 * A state value as one line: `normal.moving`, `{a: x, b: y}` as `a.x | b.y`;
 * with `labels`, a state that has a label is shown by it (`Forced.Open` for
 * the key `Forced_Open`).
 */
export function stateText(value: unknown, labels?: ReadonlyMap<string, string>): string {
  const leaves = activePaths(value).filter((p, _i, all) => !all.some((q) => q.startsWith(`${p}.`)))
  if (!leaves.length) return typeof value === 'string' ? value : JSON.stringify(value)
  if (!labels?.size) return leaves.join(' | ')
  return leaves.map((path) => path.split('.').map((key, i, keys) => labels.get(keys.slice(0, i + 1).join('.')) ?? key).join('.')).join(' | ')
}

/** State path -> the label its definition gives it (`meta: { label }`, GET /twin-types), for states that have one. */
export function stateLabels(chart: StateChart): Map<string, string> {
  const out = new Map<string, string>()
  const walk = (states: StateInfo[]) => {
    for (const s of states) {
      if (s.label) out.set(s.path, s.label)
      if (s.states) walk(s.states)
    }
  }
  walk(chart.states)
  return out
}

/** A pending timer (the twin view's `timers`) as people read it. */
export function timerText(id: string): string {
  if (id.startsWith('$cmd:')) return `command ${id.slice(5)} times out`
  // XState names `after` timers `xstate.after.<delay>.<machine id>.<state path>`.
  const after = /^xstate\.after\.([^.]+)\.[^.]+\.(.+)$/.exec(id)
  if (after) return `after ${/^\d+$/.test(after[1]!) ? `${after[1]} ms` : after[1]} in ${after[2]}`
  return id
}

/** `in 1 min 59 s`, `3 s ago`: how far `due` is from `now`, to the second. */
export function relativeTime(due: number, now: number): string {
  const ms = due - now
  let s = Math.round(Math.abs(ms) / 1000)
  const parts: string[] = []
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['min', 60]] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)} ${unit}`)
      s %= size
    }
  }
  if (s || !parts.length) parts.push(`${s} s`)
  const text = parts.slice(0, 2).join(' ')
  return ms >= 0 ? `in ${text}` : `${text} ago`
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
