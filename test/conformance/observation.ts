/**
 * What the conformance suite compares between plain XState (reference.ts)
 * and the engine (engine.ts) after every step of a script, and how each side
 * is put into the same shape.
 */
import type { StateValue } from 'xstate'
import { sameValue } from '../../src/core/ruleRouting.ts'
import type { HistoryEntry } from '../../src/model/record.ts'

/** A pending timer: its id (`~<event type>` when the machine gave none), due time and event type. */
export interface TimerView {
  id: string
  due: number
  event: string
}

/** A device command a step asked for: the target twin key, name, payload and timeout. */
export interface CommandView {
  to: string
  name: string
  payload: unknown
  timeoutMs?: number
}

export interface Observation {
  value: StateValue
  /** the context as apps see it (JSON) */
  context: unknown
  tags: string[]
  /** pending timers in the order they will fire */
  timers: TimerView[]
  /** events emitted since the last observation: `{ type, at, ...data }` as JSON */
  emitted: Array<Record<string, unknown>>
  /** device commands asked for since the last observation (`sendCommand`) */
  commands: CommandView[]
  /** events refused since the last observation: [event name, error code] */
  refused: Array<[string, string]>
  /** reached a top-level final state */
  done: boolean
  output?: unknown
}

/** One applied step (device event, or timer with what it caused): the material of a twin's history. */
export interface HistoryStep {
  at: number
  /** the event name, or the timer's id when the machine named it, else its event type */
  e: string
  f: StateValue
  t: StateValue
  x: string[]
}

/** A step of a script: a device event at the current time, or time passing. */
export type ScriptStep = { send: string; payload?: Record<string, unknown> } | { advance: number }

/** The value through JSON, as it travels to apps. */
export function json(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value))
}

/**
 * A timer id as the engine names it, in the reference's terms: the engine
 * names a timer the machine left unnamed `<event type>@<due>#<arming order>`
 * (twinDriver.ts), XState gives it a random id.
 */
export function timerName(id: string, eventType: string): string {
  const m = /^(.*)@\d+#\d+$/.exec(id)
  return m && m[1] === eventType ? `~${eventType}` : id
}

/** The cause of a history entry in the reference's terms (timers unnamed by the machine: their event type). */
export function historyCause(e: string): string {
  const m = /^(.*)@\d+#\d+$/.exec(e)
  return m ? m[1]! : e
}

/**
 * The history a twin keeps (stepEffects.ts historyEntry) for these steps: a
 * step that changed the state value or emitted events, the last `length`.
 */
export function expectedHistory(steps: readonly HistoryStep[], length: number): Array<Omit<HistoryEntry, 'r'>> {
  const kept = steps.filter((s) => s.x.length > 0 || !sameValue(s.f, s.t))
  return kept.slice(-length).map((s) => {
    const entry: Omit<HistoryEntry, 'r'> = { at: s.at, e: s.e, f: s.f, t: s.t }
    if (s.x.length) entry.x = s.x
    return entry
  })
}

/** The engine's kept history in the same terms (revisions left out: XState has none). */
export function engineHistory(h: readonly HistoryEntry[] | undefined): Array<Omit<HistoryEntry, 'r'>> {
  return (h ?? []).map(({ r: _, ...entry }) => ({ ...entry, e: historyCause(entry.e) }))
}
