import type { StepResult, TwinDriver } from './twinDriver.ts'
import { TwinError } from '../errors.ts'
import { DEFAULT_COMMAND_TIMEOUT_MS, MAX_COMMAND_NAMES, MAX_COMMAND_TIMEOUT_MS, type CommandMessage, type CommandRequestPayload } from '../model/commands.ts'
import { COMMAND, COMMAND_TIMER_PREFIX, MIGRATE } from '../model/engineEvents.ts'
import type { CommandState, LiveTwin, TwinRecord } from '../model/record.ts'

/**
 * The steps the engine takes itself, for every twin type, without its
 * machine: attributes, device commands and their acknowledgements. Pure, like
 * the machine step: (twin, input, time) -> next record and effects.
 */

export interface EngineStepResult extends StepResult {
  /** a command to publish to the device once the step is committed */
  publish?: { name: string; message: CommandMessage }
}

function next(twin: LiveTwin, at: number, change: Partial<TwinRecord>, emitted: StepResult['emitted'] = []): EngineStepResult {
  const record: TwinRecord = { ...twin.record, ...change, r: twin.record.r + 1, u: at }
  return { accepted: true, snapshot: twin.snapshot, record, emitted, commands: [] }
}

function unchanged(twin: LiveTwin): EngineStepResult {
  return { accepted: false, snapshot: twin.snapshot, record: twin.record, emitted: [], commands: [] }
}

/** Sets (string) and removes (null) attributes. Setting what is already there is no change. */
export function applyAttributes(twin: LiveTwin, values: Record<string, string | null>, at: number): EngineStepResult {
  const attributes = { ...twin.record.a }
  let changed = false
  for (const [name, value] of Object.entries(values)) {
    if (value === null) {
      if (name in attributes) {
        delete attributes[name]
        changed = true
      }
    } else if (attributes[name] !== value) {
      attributes[name] = value
      changed = true
    }
  }
  if (!changed) return unchanged(twin)
  return next(twin, at, { a: Object.keys(attributes).length ? attributes : undefined })
}

/**
 * Records a command as pending (the desired state), arms its timeout and asks
 * for it to be published. A newer command of the same name replaces an older
 * one, pending or not: the device shadow holds the latest wish.
 */
export function recordCommand(twin: LiveTwin, request: CommandRequestPayload, at: number): EngineStepResult {
  const commands = { ...twin.record.k }
  if (!(request.name in commands) && Object.keys(commands).length >= MAX_COMMAND_NAMES) {
    // Bounded: the oldest answered or timed-out command makes room; 32 pending ones refuse a 33rd name.
    const done = Object.entries(commands).filter(([, c]) => c.status !== 'pending').sort((a, b) => a[1].sentAt - b[1].sentAt)[0]
    if (!done) {
      return { ...unchanged(twin), error: new TwinError('TWIN_ERR_COMMAND_INVALID', `command "${request.name}": ${MAX_COMMAND_NAMES} other commands of this twin are pending; wait for their answers`) }
    }
    delete commands[done[0]]
  }
  const timeoutMs = Math.min(Math.max(request.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, 1), MAX_COMMAND_TIMEOUT_MS)
  const due = at + timeoutMs
  const state: CommandState = { id: request.id, payload: request.payload, status: 'pending', by: request.by, sentAt: at, due }
  const t: TwinRecord['t'] = { ...twin.record.t, [COMMAND_TIMER_PREFIX + request.name]: [due, { type: COMMAND_TIMER_PREFIX + request.name }, (twin.record.r + 1) * 1024] }
  const result = next(twin, at, { k: { ...commands, [request.name]: state }, t })
  result.publish = { name: request.name, message: { id: request.id, payload: request.payload, sentAt: at } }
  return result
}

/**
 * The device's answer to a command, matched by correlation id. A late answer
 * (after the timeout) still counts: the shadow shows what the device did.
 */
export function applyAck(twin: LiveTwin, ack: { id: string; ok?: boolean; reason?: string; reported?: Record<string, unknown> }, at: number): EngineStepResult {
  const entry = Object.entries(twin.record.k ?? {}).find(([, c]) => c.id === ack.id)
  if (!entry) {
    return {
      ...unchanged(twin),
      error: new TwinError('TWIN_ERR_EVENT_NOT_ACCEPTED', `ack for command "${ack.id.slice(0, 128)}": no such command was sent to this twin, or a newer one of the same name replaced it`),
    }
  }
  const [name, command] = entry
  // Answered already: a redelivered or repeated ack changes nothing (and emits nothing twice).
  if (command.status === 'acked' || command.status === 'rejected') return unchanged(twin)
  const ok = ack.ok !== false
  const done: CommandState = { ...command, status: ok ? 'acked' : 'rejected', doneAt: at }
  if (!ok && ack.reason !== undefined) done.reason = ack.reason
  if (ack.reported !== undefined) done.reported = ack.reported
  const t = { ...twin.record.t }
  delete t[COMMAND_TIMER_PREFIX + name]
  const event = { type: ok ? 'commandAcked' : 'commandRejected', command: name, commandId: command.id, ...(ok ? {} : { reason: ack.reason ?? null }) }
  return next(twin, at, { k: { ...twin.record.k, [name]: done }, t }, [event])
}

/** A command timer fell due: the command is timed out if still pending; null for a stale timer. */
export function timeoutCommand(twin: LiveTwin, timerId: string, due: number): EngineStepResult | null {
  const pending = twin.record.t[timerId]
  if (!pending || pending[0] !== due) return null
  const name = timerId.slice(COMMAND_TIMER_PREFIX.length)
  const t = { ...twin.record.t }
  delete t[timerId]
  const command = twin.record.k?.[name]
  if (!command || command.status !== 'pending') return next(twin, due, { t })
  const timedOut: CommandState = { ...command, status: 'timedOut', doneAt: due }
  const event = { type: 'commandTimedOut', command: name, commandId: command.id, sentAt: command.sentAt }
  return next(twin, due, { k: { ...twin.record.k, [name]: timedOut }, t }, [event])
}

/** One input through the engine's own steps (attributes, ack, a command to record) or the twin's machine. */
export function stepTwin(driver: TwinDriver, twin: LiveTwin, event: string, payload: Record<string, any>, at: number): EngineStepResult {
  switch (event) {
    case 'attributes':
      return applyAttributes(twin, payload, at)
    case 'ack':
      return applyAck(twin, payload as { id: string }, at)
    case COMMAND:
      return recordCommand(twin, payload as CommandRequestPayload, at)
    case MIGRATE:
      // Queued by `twin migrate`: loading the twin migrated it; nothing else to do.
      return unchanged(twin)
    default:
      return driver.step(twin, { ...payload, type: event, at })
  }
}

/** A due timer: a command's timeout, or the machine's own (null for a stale one). */
export function fireTimer(driver: TwinDriver, twin: LiveTwin, timerId: string, due: number): EngineStepResult | null {
  return timerId.startsWith(COMMAND_TIMER_PREFIX) ? timeoutCommand(twin, timerId, due) : driver.fire(twin, timerId, due)
}
