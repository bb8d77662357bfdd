import type { StateValue } from 'xstate'
import type { EmittedEvent } from './twinHarness.ts'
import type { Drivers } from '../core/drivers.ts'
import { driversWith, runTwin, type ReplayStep } from '../core/replay.ts'
import { diffTwin, type TwinDifference } from '../core/replayDiff.ts'
import type { RuleDefinition } from '../definitions/defineRule.ts'
import type { TwinDefinition } from '../definitions/defineTwin.ts'
import { TwinRegistry } from '../definitions/registry.ts'
import { validateEvent } from '../definitions/validate.ts'
import { TwinError } from '../errors.ts'
import type { InboxEntry } from '../model/entries.ts'
import { eventTime, twinKey } from '../model/ids.ts'

/**
 * One event of a log: hand-written (`at`, the engine time in ms) or recorded
 * (`id`, its inbox stream id, whose millisecond part is its time). The
 * payload as the device sent it (an object, or its JSON).
 */
export interface LogEvent {
  at?: number
  id?: string
  /** the twin (or rule group) it is for; default `test-1` */
  twinId?: string
  event: string
  payload?: Record<string, unknown> | string
}

export interface ReplayLogOptions {
  /** fire timers due up to this time (default: the last event's time) */
  until?: number
  /** the other twin types and rules in play: targets of commands, the sources of a rule */
  definitions?: ReadonlyArray<TwinDefinition | RuleDefinition>
}

/** One twin's outcome over the log. */
export interface LogTwinOutcome {
  id: string
  /** its state at the end; null when no event created it */
  state: StateValue | null
  context: unknown
  /** every step, input or timer, with what it produced */
  steps: ReplayStep[]
  emitted: EmittedEvent[]
  /** device commands the twin asked for (`sendCommand`) */
  commands: Array<{ to: string; name: string; payload: unknown; at: number }>
  /** inputs the engine would dead-letter, with the code and why */
  refused: Array<{ at: number; event: string; code: string; reason: string }>
}

export interface LogOutcome {
  /** by twin id */
  twins: Record<string, LogTwinOutcome>
  /** every derived event, in time order, with its twin */
  emitted: Array<EmittedEvent & { twinId: string }>
}

/**
 * Runs a twin or rule definition over an event log on virtual time, through
 * the engine's own batch step, as `twin replay` does over the input a data
 * set retained: each twin from its initial state, its timers fired in due
 * order between the events and up to `until`.
 *
 *   const out = replayLog(boiler, [
 *     { at: 0, twinId: 'b1', event: 'reading', payload: { temp: 85 } },
 *     { at: 10_000, twinId: 'b1', event: 'reading', payload: { temp: 82 } },
 *   ], { until: 60_000 })
 *   expect(out.twins.b1.emitted.map((e) => e.type)).toEqual(['overheat', 'sustainedOverheat'])
 *
 * Device events are validated as ingest validates them: an event the engine
 * would refuse at the door throws its TwinError (a broken log is a broken test).
 */
export function replayLog(definition: TwinDefinition | RuleDefinition, log: readonly LogEvent[], options: ReplayLogOptions = {}): LogOutcome {
  const drivers = driversFor(definition, options.definitions)
  const { type, perTwin, until } = prepare(drivers, definition, log, options)
  const twins: Record<string, LogTwinOutcome> = {}
  const emitted: LogOutcome['emitted'] = []
  for (const [id, inputs] of perTwin) {
    const run = runTwin(drivers, twinKey(type, id), null, inputs, until)
    twins[id] = outcome(id, run.steps, run.record?.v ?? null, run.steps.at(-1)?.context ?? null)
    for (const e of twins[id].emitted) emitted.push({ ...e, twinId: id })
  }
  emitted.sort((a, b) => a.at - b.at)
  return { twins, emitted }
}

/** Twins whose outcome differs between two definitions of one type over the same log, and how. */
export interface LogComparison {
  differences: TwinDifference[]
  /** ids of the twins whose outcome is the same, step for step */
  same: string[]
}

/**
 * The what-if question on a log: runs `running` and `candidate` (two
 * definitions of one type) over it from each twin's initial state and
 * reports, per twin that differs, its end state, the derived events and
 * commands added or missing, refusals, and the first step that differs.
 */
export function compareLog(running: TwinDefinition | RuleDefinition, candidate: TwinDefinition | RuleDefinition, log: readonly LogEvent[], options: ReplayLogOptions = {}): LogComparison {
  if (nameOf(running) !== nameOf(candidate)) throw new TwinError('TWIN_ERR_REPLAY_DEFINITION', `the candidate is of type "${nameOf(candidate)}", the running definition of "${nameOf(running)}": compare two definitions of one type`)
  const a = driversFor(running, options.definitions)
  const b = driversWith(a.registry, candidate)
  const { type, perTwin, until } = prepare(a, running, log, options)
  const out: LogComparison = { differences: [], same: [] }
  for (const [id, inputs] of perTwin) {
    const key = twinKey(type, id)
    const difference = diffTwin(key, runTwin(a, key, null, inputs, until), runTwin(b, key, null, inputs, until))
    if (difference) out.differences.push(difference)
    else out.same.push(id)
  }
  return out
}

function nameOf(d: TwinDefinition | RuleDefinition): string {
  return (d as RuleDefinition).kind === 'rule' ? (d as RuleDefinition).name : (d as TwinDefinition).type
}

function driversFor(definition: TwinDefinition | RuleDefinition, others: ReplayLogOptions['definitions'] = []): Drivers {
  const all = [...others.filter((d) => nameOf(d) !== nameOf(definition)), definition]
  const twins = all.filter((d): d is TwinDefinition => (d as RuleDefinition).kind !== 'rule')
  const rules = all.filter((d): d is RuleDefinition => (d as RuleDefinition).kind === 'rule')
  return driversWith(new TwinRegistry(twins, rules), definition)
}

/** The log as each twin's inbox entries, in time order (ids made from `at` where not recorded). */
function prepare(drivers: Drivers, definition: TwinDefinition | RuleDefinition, log: readonly LogEvent[], options: ReplayLogOptions) {
  const type = nameOf(definition)
  const actor = drivers.get(type)!.definition
  const isRule = (definition as RuleDefinition).kind === 'rule'
  const entries = log.map((e, n) => {
    const at = e.id !== undefined ? eventTime(e.id) : e.at
    if (typeof at !== 'number' || !Number.isFinite(at)) throw new TwinError('TWIN_ERR_BAD_REQUEST', `log event ${n} ("${e.event}") has neither a time (at) nor a stream id (id)`)
    const payload = typeof e.payload === 'string' ? (JSON.parse(e.payload || '{}') as Record<string, unknown>) : (e.payload ?? {})
    const twinId = e.twinId ?? 'test-1'
    if (!isRule) validateEvent(actor, twinId, e.event, payload)
    return { n, at, id: e.id, twinId, event: e.event, payload: JSON.stringify(payload) }
  })
  entries.sort((x, y) => x.at - y.at || x.n - y.n)
  const perTwin = new Map<string, InboxEntry[]>()
  let seq = 0
  let last = -Infinity
  for (const e of entries) {
    seq = e.at === last ? seq + 1 : 0
    last = e.at
    const list = perTwin.get(e.twinId) ?? []
    list.push({ id: e.id ?? `${e.at}-${seq}`, type, twinId: e.twinId, event: e.event, payload: e.payload })
    perTwin.set(e.twinId, list)
  }
  const until = options.until ?? (entries.length ? entries[entries.length - 1]!.at : 0)
  return { type, perTwin, until }
}

function outcome(id: string, steps: ReplayStep[], state: StateValue | null, context: unknown): LogTwinOutcome {
  const out: LogTwinOutcome = { id, state, context, steps, emitted: [], commands: [], refused: [] }
  for (const s of steps) {
    for (const d of s.derived) out.emitted.push({ ...d.data, type: d.name, at: s.at })
    for (const c of s.commands) if (c.kind === 'asked') out.commands.push({ to: c.to, name: c.name, payload: c.payload, at: s.at })
    if (s.refused) out.refused.push({ at: s.at, event: s.cause.kind === 'input' ? s.cause.event : s.cause.event, code: s.refused.code, reason: s.refused.reason })
  }
  return out
}
