import type { StateValue } from 'xstate'
import { Drivers } from './drivers.ts'
import { applyShardBatch, type ShardBatchResult } from './shardBatch.ts'
import type { LoadedRecord } from './workingSet.ts'
import type { RuleDefinition } from '../definitions/defineRule.ts'
import type { TwinDefinition } from '../definitions/defineTwin.ts'
import { TwinRegistry } from '../definitions/registry.ts'
import { COMMAND } from '../model/engineEvents.ts'
import type { InboxEntry } from '../model/entries.ts'
import { eventTime, timerMember } from '../model/ids.ts'
import type { LiveTwin, TwinRecord } from '../model/record.ts'
import { toJsonValue } from '../model/values.ts'

/**
 * What-if replay, the pure part (ADR 0012): one twin run over recorded input
 * on virtual time, through the engine's own batch step (applyShardBatch),
 * one input or timer at a time so that every effect is known by its cause.
 * Timers are not input: they are re-derived from the definition as it runs,
 * and fire in due order between the inputs, as the engine fires them.
 */

/** What caused a step: an input (its inbox id and event) or a timer of the twin's own. */
export type ReplayCause = { kind: 'input'; id: string; event: string } | { kind: 'timer'; id: string; event: string; due: number }

/** One step of a replayed twin: its cause, the twin after it, and what it produced. */
export interface ReplayStep {
  cause: ReplayCause
  at: number
  /** state value after the step */
  value: StateValue | null
  /** context after the step, as apps see it (JSON) */
  context: unknown
  /** pending timers after the step (their event and due time; ids left out: they carry arming counters) */
  timers: Array<{ event: string; due: number }>
  /** derived events */
  derived: Array<{ name: string; data: Record<string, unknown> }>
  /** device commands: asked for by the step (`sendCommand`, to its target's twin) or sent to this twin's device */
  commands: Array<{ kind: 'asked' | 'sent'; to: string; name: string; payload: unknown }>
  /** rule feeds and outputs the step routed */
  feeds: Array<{ to: string; event: string }>
  /** why the step was refused (the dead letter the engine would write), if it was */
  refused?: { code: string; reason: string }
}

/** A twin's replay: its steps and its record at the end (null: never created). */
export interface TwinRun {
  steps: ReplayStep[]
  record: TwinRecord | null
}

/**
 * The drivers of a registry with one definition (twin or rule) replaced by a
 * candidate: the registry checks it as at startup (routes, rule loops).
 */
export function driversWith(running: TwinRegistry, candidate: TwinDefinition | RuleDefinition): Drivers {
  const isRule = (candidate as RuleDefinition).kind === 'rule'
  const name = isRule ? (candidate as RuleDefinition).name : (candidate as TwinDefinition).type
  const twins = running.types.map((t) => running.get(t)!).filter((d) => isRule || d.type !== name)
  const rules = running.rules.filter((r) => !isRule || r.name !== name)
  return new Drivers(new TwinRegistry(isRule ? twins : [...twins, candidate as TwinDefinition], isRule ? [...rules, candidate as RuleDefinition] : rules))
}

/**
 * Runs one twin from `start` (its stored record; null: not created yet; an
 * Error: unreadable) over `inputs` (its inbox entries, in order), firing its
 * timers due up to `until`. Pure: nothing is written anywhere.
 */
export function runTwin(drivers: Drivers, key: string, start: LoadedRecord, inputs: readonly InboxEntry[], until: number): TwinRun {
  let live: LiveTwin | undefined
  const loaded = new Map<string, LoadedRecord>([[key, start]])
  const cache = { get: (k: string) => (k === key ? live : undefined) }
  const steps: ReplayStep[] = []
  const current = () => live?.record ?? (start instanceof Error ? null : start)
  const apply = (cause: ReplayCause, at: number, entries: readonly InboxEntry[], timers: Array<{ member: string; due: number }>) => {
    const result = applyShardBatch({ registry: drivers.registry, drivers, cache, entries, timers, loaded, historyLength: 0, horizon: at })
    for (const c of result.changed) if (c.key === key) live = c.twin
    steps.push(observe(cause, at, current(), result))
  }
  const fireUpTo = (time: number) => {
    for (let next = nextTimer(current()); next && next.due <= time; next = nextTimer(current())) {
      apply({ kind: 'timer', id: next.id, event: next.event, due: next.due }, next.due, [], [{ member: timerMember(key, next.id), due: next.due }])
    }
  }
  for (const entry of inputs) {
    const at = eventTime(entry.id)
    fireUpTo(at)
    apply({ kind: 'input', id: entry.id, event: entry.event }, at, [entry], [])
  }
  fireUpTo(until)
  return { steps, record: current() }
}

/** The twin's next timer: soonest, and among timers due at once the first armed. */
function nextTimer(record: TwinRecord | null): { id: string; event: string; due: number } | undefined {
  let best: { id: string; event: string; due: number; seq: number } | undefined
  for (const id in record?.t) {
    const [due, event, seq = -1] = record.t[id]!
    if (!best || due < best.due || (due === best.due && seq < best.seq)) best = { id, event: event.type, due, seq }
  }
  return best
}

/** One step as the replay compares it, from the batch's writes. */
function observe(cause: ReplayCause, at: number, record: TwinRecord | null, result: ShardBatchResult): ReplayStep {
  const step: ReplayStep = {
    cause, at,
    value: record?.v ?? null,
    context: record ? (record.x ? toJsonValue(record.c) : record.c) : null,
    timers: record ? pendingOf(record) : [],
    derived: [], commands: [], feeds: [],
  }
  for (const o of result.writes.outbox) {
    if (o.kind === 'derived') step.derived.push({ name: o.event.name, data: o.event.data })
    else if (o.kind === 'publish') step.commands.push({ kind: 'sent', to: o.key, name: o.name, payload: o.message.payload })
    else if (o.kind === 'topic') step.feeds.push({ to: o.topic, event: 'publish' })
    else if (o.event === COMMAND) {
      const request = JSON.parse(o.payload) as { name: string; payload: unknown }
      step.commands.push({ kind: 'asked', to: o.to, name: request.name, payload: request.payload })
    } else step.feeds.push({ to: o.to, event: o.event })
  }
  const refusal = result.writes.deadLetters[0]
  if (refusal) step.refused = { code: refusal.code, reason: refusal.reason }
  else if (result.writes.held.length) step.refused = { code: 'TWIN_ERR_VERSION_AHEAD', reason: 'held: the twin is stored by a newer version than this definition' }
  return step
}

function pendingOf(record: TwinRecord): ReplayStep['timers'] {
  const out: ReplayStep['timers'] = []
  for (const id in record.t) {
    const [due, event] = record.t[id]!
    out.push({ event: event.type, due })
  }
  return out.sort((a, b) => a.due - b.due || (a.event < b.event ? -1 : a.event > b.event ? 1 : 0))
}

/** A twin's replay window: its start record (at the base snapshot), all its input since, and the window. */
export interface ReplayTwinInput {
  key: string
  start: LoadedRecord
  /** every input of the twin after the snapshot, in order */
  inputs: readonly InboxEntry[]
}

/**
 * Replays one twin both ways (ADR 0012): first the running definition
 * alone from the snapshot up to the window's start (`from`), which gives
 * the twin's state there; from that state, each definition over the
 * window's input, timers fired up to `until`.
 */
export function replayTwinBothWays(running: Drivers, candidate: Drivers, twin: ReplayTwinInput, from: number, until: number): { running: TwinRun; candidate: TwinRun; inputs: number } {
  const split = twin.inputs.findIndex((e) => eventTime(e.id) >= from)
  const before = split < 0 ? twin.inputs : twin.inputs.slice(0, split)
  const during = split < 0 ? [] : twin.inputs.slice(split)
  const fork: LoadedRecord = before.length || (twin.start && !(twin.start instanceof Error)) ? forkRecord(running, twin, before, from) : twin.start
  return { running: runTwin(running, twin.key, fork, during, until), candidate: runTwin(candidate, twin.key, fork, during, until), inputs: during.length }
}

function forkRecord(running: Drivers, twin: ReplayTwinInput, before: readonly InboxEntry[], from: number): LoadedRecord {
  if (twin.start instanceof Error) return twin.start
  return runTwin(running, twin.key, twin.start, before, from - 1).record
}
