import type { EventObject } from 'xstate'
import type { EngineStepResult } from './engineSteps.ts'
import { routeStep, sameValue } from './ruleRouting.ts'
import type { RuleSourceTwin } from '../definitions/defineRule.ts'
import type { TwinRegistry } from '../definitions/registry.ts'
import type { ErrorCode } from '../errors.ts'
import type { CommandEmit, CommandRequestPayload } from '../model/commands.ts'
import { COMMAND, COMMAND_TIMER_PREFIX } from '../model/engineEvents.ts'
import type { DeadLetterWrite, OutboxEntry } from '../model/entries.ts'
import { EVENT_PATTERN, ID_PATTERN, splitTwinKey, twinKey } from '../model/ids.ts'
import type { DerivedEvent, HistoryEntry, TwinRecord } from '../model/record.ts'

/**
 * What an applied step writes besides its twin's record, as pure functions
 * of the step: its history entry, derived events, device commands (routed to
 * the device's twin), the command it publishes, and the rule feeds it causes.
 * Each appends typed entries to the batch's outbox or dead letters.
 */

/** The outbox and dead letters one batch is writing, in order. */
export interface EffectSink {
  outbox: OutboxEntry[]
  deadLetters: DeadLetterWrite[]
  /** derived events only (not the engine's own entries): the change notices' events */
  derived: DerivedEvent[]
}

/** The history entry of a step, or null when it is not a transition worth keeping. */
export function historyEntry(prev: TwinRecord, result: EngineStepResult, cause: string): HistoryEntry | null {
  const record = result.record
  const transition = result.emitted.length > 0 || result.publish !== undefined || cause === 'ack' || cause.startsWith(COMMAND_TIMER_PREFIX) || !sameValue(prev.v, record.v)
  if (!transition) return null
  const entry: HistoryEntry = { r: record.r, at: record.u, e: result.publish ? `${COMMAND}:${result.publish.name}` : cause, f: prev.v, t: record.v }
  if (result.emitted.length) entry.x = result.emitted.map((e) => e.type)
  return entry
}

/** Appends the entry to the record's history, keeping the last `length` (sets it on the record itself). */
export function keepHistory(record: TwinRecord, entry: HistoryEntry, length: number): void {
  record.h = [...(record.h ?? []), entry].slice(-length)
}

/** A step's emitted events as derived events with stable ids `<idBase>:<n>`, into the outbox. */
export function emitDerived(sink: EffectSink, key: string, idBase: string, emitted: readonly EventObject[], at: number): DerivedEvent[] {
  if (emitted.length === 0) return NONE
  const { type, id } = splitTwinKey(key)
  return emitted.map((event, k) => {
    const { type: name, ...data } = event
    const d: DerivedEvent = { id: `${idBase}:${k}`, type, twinId: id, name, at, data }
    sink.derived.push(d)
    sink.outbox.push({ kind: 'derived', event: d })
    return d
  })
}

/**
 * A command a step asked for (`sendCommand`): routed to the device twin's
 * inbox, where it is recorded and sent to the device. One that names no
 * valid device or command is dead-lettered for the twin that asked.
 */
export function routeCommand(sink: EffectSink, registry: TwinRegistry, from: string, id: string, c: CommandEmit, at: number): void {
  const to = c.to ? twinKey(c.to.type, c.to.id) : registry.rule(splitTwinKey(from).type) ? undefined : from
  const why = commandProblem(registry, to, c)
  if (why) {
    deadLetter(sink, 'TWIN_ERR_COMMAND_INVALID', `command from ${from}: ${why}`, from, COMMAND, JSON.stringify(c))
    return
  }
  const request: CommandRequestPayload = { id, name: c.name, payload: c.payload ?? {}, by: from }
  if (c.timeoutMs !== undefined) request.timeoutMs = c.timeoutMs
  sink.outbox.push({ kind: 'routed', id, from, to: to!, event: COMMAND, payload: JSON.stringify(request), at })
}

function commandProblem(registry: TwinRegistry, to: string | undefined, c: CommandEmit): string | undefined {
  if (!to) return 'a rule must say which device a command is for (`to`)'
  const target = splitTwinKey(to)
  if (!registry.get(target.type)) return `no twin type "${target.type}" to command`
  if (!ID_PATTERN.test(target.id)) return `invalid twin id "${target.id.slice(0, 128)}"`
  if (typeof c.name !== 'string' || !EVENT_PATTERN.test(c.name)) return `command name "${String(c.name).slice(0, 64)}" must match [A-Za-z][A-Za-z0-9_-]{0,63}`
  return undefined
}

/** Routes a twin's step to the rule actors fed by its type, through the outbox (see ruleRouting.ts). */
export function feedRules(sink: EffectSink, registry: TwinRegistry, key: string, prev: TwinRecord, record: TwinRecord, events: readonly DerivedEvent[], idBase: string): void {
  const { type, id } = splitTwinKey(key)
  const routes = registry.routes(type)
  if (routes.length === 0) return
  const after: RuleSourceTwin<unknown> = { type, id, value: record.v, context: record.c, attributes: record.a ?? {} }
  const before: RuleSourceTwin<unknown> | null = prev.r === 0 && !prev.a ? null : { type, id, value: prev.v, context: prev.c, attributes: prev.a ?? {} }
  routeStep(routes, before, after, events).forEach((f, n) => {
    const body: Record<string, unknown> = { twinId: id, sourceAt: record.u, value: after.value, context: after.context, attributes: after.attributes }
    if (f.data) body.data = f.data
    sink.outbox.push({ kind: 'routed', id: `${idBase}:f${n}`, from: key, to: twinKey(f.rule, f.group), event: f.event, payload: JSON.stringify(body), at: record.u })
  })
}

export function deadLetter(sink: EffectSink, code: ErrorCode, reason: string, twin: string, event: string, payload: string): void {
  sink.deadLetters.push({ code, reason, twin, event, payload, src: 'worker' })
}

const NONE: DerivedEvent[] = []
