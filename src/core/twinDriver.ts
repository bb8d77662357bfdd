import { createActor, type AnyActorRef, type AnyMachineSnapshot, type EventObject, type StateValue } from 'xstate'
import type { TwinDefinition } from '../definitions/defineTwin.ts'
import { TwinError, type ErrorCode } from '../errors.ts'
import type { CommandEmit } from '../model/commands.ts'
import { COMMAND, COMMAND_TIMER_PREFIX } from '../model/engineEvents.ts'
import { EVENT_PATTERN } from '../model/ids.ts'
import type { LiveTwin, MachineEvent, PendingTimer, TwinRecord } from '../model/record.ts'
import { inspectValue, toJsonValue } from '../model/values.ts'

export interface StepResult {
  /** false when the machine did not accept the event (no transition enabled), took it without any change, or failed */
  accepted: boolean
  snapshot: AnyMachineSnapshot
  record: TwinRecord
  /** derived events, their data as apps see it (JSON) */
  emitted: EventObject[]
  /** device commands the step asked for (`sendCommand`), taken out of `emitted` */
  commands: CommandEmit[]
  error?: TwinError
}

/** Events a machine sends itself without a delay in one step (each a macrostep): more is a loop. */
const MAX_SELF_SENDS = 100

interface Collected {
  emitted: EventObject[]
  commands: CommandEmit[]
  timers: Record<string, PendingTimer>
}

/**
 * Runs one twin definition's machine as a pure step: (twin, event, time) ->
 * (next twin, effects). It executes no side effects; the shard processor and
 * the store act on what it returns (DESIGN.md "the step is pure").
 *
 * Why not `transition()` from xstate: it builds a throw-away actor per call
 * (~39 µs/event measured); one reusable inert scope per definition gives the
 * same result at ~10 µs/event. The scope collects the executable actions; the
 * engine turns delayed raise/sendTo-to-self into durable timers, cancel into
 * timer removal and emit into derived events (XState does not re-arm timers
 * from a snapshot: statelyai/xstate#5331). It keeps what XState keeps across
 * a restore (history values, status, output), so a twin restored from its
 * record behaves as the one in memory (docs/twins.md, "Fidelity to XState").
 */
export class TwinDriver {
  readonly definition: TwinDefinition
  private readonly actions: Array<{ type: string; params?: Record<string, unknown> }> = []
  private readonly scope: Record<string, unknown>
  private readonly self: AnyActorRef

  constructor(definition: TwinDefinition) {
    this.definition = definition
    this.self = createActor(definition.machine)
    this.scope = {
      self: this.self,
      defer: () => {},
      id: '',
      logger: () => {},
      sessionId: '',
      stopChild: () => {},
      system: this.self.system,
      emit: () => {},
      actionExecutor: (action: { type: string; params?: Record<string, unknown> }) => this.actions.push(action),
    }
  }

  /** The live snapshot for a stored record: state value, context, history values, status and output. */
  restore(record: TwinRecord): AnyMachineSnapshot {
    const machine = this.definition.machine
    const historyValue: Record<string, unknown[]> = {}
    for (const id in record.hv) historyValue[id] = record.hv[id]!.map((node) => machine.getStateNodeById(node))
    return machine.resolveState({ value: record.v, context: record.c, historyValue, status: record.st, output: record.o } as never) as AnyMachineSnapshot
  }

  /** A new twin's first state, with the effects of entering it (e.g. watchdog timers). Throws TWIN_ERR_DEFINITION or the step's refusal. */
  create(id: string, at: number): StepResult {
    this.actions.length = 0
    const empty: TwinRecord = { v: '', c: undefined, r: 0, u: at, t: {}, d: this.definition.version }
    let snapshot = this.definition.machine.getInitialSnapshot(this.scope as never, { type: this.definition.type, id }) as AnyMachineSnapshot
    if (snapshot.status === 'error') {
      throw new TwinError('TWIN_ERR_DEFINITION', `twin type "${this.definition.type}" failed to create its initial state: ${errorText(snapshot.error)}`)
    }
    // What the initial state sent itself (entry `sendTo(self)`) is processed next, as XState's mailbox does when the actor starts.
    const queued = this.takeSelfSend(0)
    if (queued && snapshot.status === 'active') {
      const next = this.run(snapshot, { ...queued, at } as MachineEvent)
      if (next instanceof TwinError) throw next
      snapshot = next
    }
    const result = this.finish({ snapshot: snapshot, record: empty }, snapshot, at, true)
    if (result.error) throw result.error
    return result
  }

  /** Applies one event. Never throws: a refusal comes back as `accepted: false` with `error`. */
  step(twin: LiveTwin, event: MachineEvent): StepResult {
    if (twin.snapshot.status === 'done') {
      return this.refuse(twin, 'TWIN_ERR_TWIN_DONE', `"${event.type}" arrived after the twin reached its final state ${JSON.stringify(twin.record.v)}; a done twin takes no more events (as a done XState actor)`)
    }
    this.actions.length = 0
    const next = this.run(twin.snapshot, event)
    if (next instanceof TwinError) return this.refuse(twin, next.code, next.message)
    // XState returns the very same snapshot object when nothing changed: no
    // transition was enabled (not accepted), or one was that changes nothing.
    if (next === twin.snapshot && this.actions.length === 0) {
      if (this.definition.machine.getTransitionData(twin.snapshot, event).length > 0) return { accepted: false, snapshot: twin.snapshot, record: twin.record, emitted: [], commands: [] }
      return this.refuse(twin, 'TWIN_ERR_EVENT_NOT_ACCEPTED', `"${event.type}" is not accepted in state ${JSON.stringify(twin.record.v)}`)
    }
    return this.finish(twin, next, event.at, false)
  }

  /**
   * Fires a pending timer. Returns null for a stale timer (cancelled or re-armed
   * with another due time). A fired timer is consumed even when the machine
   * ignores its event or fails on it, so the record always changes.
   */
  fire(twin: LiveTwin, timerId: string, due: number): StepResult | null {
    const entry = twin.record.t[timerId]
    if (!entry || entry[0] !== due) return null
    const t = { ...twin.record.t }
    delete t[timerId]
    const consumed: LiveTwin = { snapshot: twin.snapshot, record: { ...twin.record, t } }
    const result = this.step(consumed, { ...entry[1], at: due })
    if (result.accepted) return result
    // Ignored or refused, the timer is spent. Only a failure (the machine threw…) comes back as `error` to be
    // dead-lettered: a delayed event no transition takes is dropped, as XState drops it.
    const error = result.error?.code === 'TWIN_ERR_EVENT_NOT_ACCEPTED' ? undefined : result.error
    return { accepted: true, snapshot: twin.snapshot, record: { ...consumed.record, r: twin.record.r + 1, u: due }, emitted: [], commands: [], error }
  }

  /** The macrostep of `event`, then those of the events the machine sent itself without a delay, in order. */
  private run(from: AnyMachineSnapshot, event: MachineEvent): AnyMachineSnapshot | TwinError {
    let snapshot = from
    let next: EventObject = event
    for (let sent = 0; ; sent++) {
      const before = this.actions.length
      try {
        snapshot = this.definition.machine.transition(snapshot, next, this.scope as never) as AnyMachineSnapshot
      } catch (err) {
        return new TwinError('TWIN_ERR_MACHINE_FAILED', `twin machine threw on "${next.type}": ${errorText(err)}`)
      }
      if (snapshot.status === 'error') return new TwinError('TWIN_ERR_MACHINE_FAILED', `twin machine failed on "${next.type}": ${errorText(snapshot.error)}`)
      const queued = this.takeSelfSend(before)
      if (!queued || snapshot.status !== 'active') return snapshot
      if (sent === MAX_SELF_SENDS) return new TwinError('TWIN_ERR_MACHINE_FAILED', `twin machine sent itself more than ${MAX_SELF_SENDS} events in one step (a sendTo loop)`)
      next = { ...queued, at: event.at } as MachineEvent
    }
  }

  /** The first undelayed send-to-self recorded since `from`, taken out of the actions (it is processed, not collected). */
  private takeSelfSend(from: number): EventObject | undefined {
    for (let i = from; i < this.actions.length; i++) {
      const a = this.actions[i]!
      if (a.type === 'xstate.sendTo' && a.params?.to === this.self && typeof a.params.delay !== 'number') {
        this.actions.splice(i, 1)
        return a.params.event as EventObject
      }
    }
    return undefined
  }

  private refuse(twin: LiveTwin, code: ErrorCode, message: string): StepResult {
    return { accepted: false, snapshot: twin.snapshot, record: twin.record, emitted: [], commands: [], error: new TwinError(code, message, { state: twin.record.v }) }
  }

  /** The step's record and effects, or its refusal when they cannot be stored or carried. */
  private finish(twin: LiveTwin, snapshot: AnyMachineSnapshot, at: number, initial: boolean): StepResult {
    const prev = twin.record
    const effects = this.collect(prev, at)
    if (effects instanceof TwinError) return this.refuse(twin, effects.code, effects.message)
    const done = snapshot.status === 'done'
    // A done actor's delayed events are cancelled (XState stops it); command timeouts are the engine's.
    if (done) for (const id in effects.timers) if (!id.startsWith(COMMAND_TIMER_PREFIX)) delete effects.timers[id]
    const record: TwinRecord = {
      // attributes, commands, history and source marks are the engine's: they carry over
      ...prev,
      v: snapshot.value,
      c: snapshot.context,
      r: prev.r + (initial ? 0 : 1),
      u: at,
      t: effects.timers,
      d: this.definition.version,
    }
    keepMachineState(record, snapshot)
    const stored = storable(record, prev)
    if (stored) return this.refuse(twin, 'TWIN_ERR_STEP_UNSTORABLE', stored)
    return { accepted: true, snapshot, record, emitted: effects.emitted, commands: effects.commands }
  }

  /** What the step's actions ask of the engine: derived events, commands, timers set and cancelled. */
  private collect(prev: TwinRecord, at: number): Collected | TwinError {
    const out: Collected = { emitted: [], commands: [], timers: { ...prev.t } }
    let armed = 0
    for (const action of this.actions) {
      const params = action.params ?? {}
      switch (action.type) {
        case 'xstate.emit': {
          const bad = this.emit(out, params.event as EventObject)
          if (bad) return bad
          break
        }
        case 'xstate.raise':
        case 'xstate.sendTo': {
          if (action.type === 'xstate.sendTo' && params.to !== this.self) {
            return new TwinError('TWIN_ERR_ACTION_UNSUPPORTED', 'sendTo another actor: a twin has no other actors to talk to; emit a derived event (a rule can take it) or sendCommand to a device')
          }
          const delay = params.delay
          if (typeof delay !== 'number') break // an immediate raise is handled inside the macrostep
          const event = params.event as EventObject
          // A negative delay fires at once, as XState's clock does, never before the step that armed it.
          const due = at + Math.max(0, delay)
          // Arming order breaks ties between timers due at once (XState fires them in the order they were armed).
          const seq = (prev.r + 1) * 1024 + armed++
          const id = (params.id as string | undefined) ?? `${event.type}@${due}#${seq}`
          out.timers[id] = [due, event, seq]
          break
        }
        case 'xstate.cancel':
          delete out.timers[params.sendId as string]
          break
        case 'xstate.spawnChild':
          return new TwinError('TWIN_ERR_ACTION_UNSUPPORTED', 'spawnChild: a twin cannot run child actors; model the child as a state, or as a twin of its own fed by a rule')
        default:
          // Custom action functions are not executed: the step is pure and may be
          // replayed. Side effects go through `emit` (derived events).
          break
      }
    }
    return out
  }

  /** A derived event or a command; a name MQTT or the engine cannot carry refuses the step. */
  private emit(out: Collected, event: EventObject): TwinError | undefined {
    if (event.type === COMMAND) {
      if ((event as CommandEmit).name) out.commands.push(event as CommandEmit)
      return undefined
    }
    if (typeof event.type !== 'string' || !EVENT_PATTERN.test(event.type)) {
      return new TwinError('TWIN_ERR_EMIT_INVALID', `emitted event name ${JSON.stringify(String(event.type).slice(0, 64))} must match [A-Za-z][A-Za-z0-9_-]{0,63}: it is a level of the MQTT topic twins/{type}/{id}/events/{name}`)
    }
    const kind = inspectValue(event, `emitted "${event.type}"`)
    if (kind.kind === 'invalid') return new TwinError('TWIN_ERR_STEP_UNSTORABLE', `${kind.path} is ${kind.why}: derived events carry JSON data`)
    out.emitted.push(kind.kind === 'json' ? event : (toJsonValue(event) as EventObject))
    return undefined
  }
}

/** Sets what XState keeps beyond value and context: history values, a done status and its output. */
function keepMachineState(record: TwinRecord, snapshot: AnyMachineSnapshot): void {
  const history = snapshot.historyValue as Record<string, Array<{ id: string }>> | undefined
  let hv: Record<string, string[]> | undefined
  for (const id in history) (hv ??= {})[id] = history[id]!.map((node) => node.id)
  if (hv) record.hv = hv
  else delete record.hv
  if (snapshot.status === 'done') {
    record.st = 'done'
    if (snapshot.output !== undefined) record.o = snapshot.output
  } else {
    delete record.st
    delete record.o
  }
}

/**
 * Why the record cannot be stored (a function, a class instance, a cycle in
 * its context, timer events or output), or undefined; marks a record that
 * needs the faithful encoding (`x`). Parts the step left as they were in a
 * JSON-only previous record are not walked again: an `assign` that changed
 * two fields costs two small walks, not one of the whole context.
 */
function storable(record: TwinRecord, prev: TwinRecord): string | undefined {
  const known = prev.x === undefined && prev.r > 0
  let exotic = false
  const check = (value: unknown, path: string): string | undefined => {
    const kind = inspectValue(value, path)
    if (kind.kind === 'invalid') return `${kind.path} is ${kind.why}; a twin's context and timer events must be storable`
    if (kind.kind === 'exotic') exotic = true
    return undefined
  }
  const bad = (known ? changedParts(record.c, prev.c, check) : check(record.c, 'context')) ??
    (record.o === undefined ? undefined : check(record.o, 'output')) ??
    timerProblem(record, known ? prev : undefined, check)
  if (bad) return bad
  if (exotic) record.x = 1
  else delete record.x
  return undefined
}

/** Checks what changed from a previous (all-JSON) context: only its changed top-level fields, when both are plain objects. */
function changedParts(next: unknown, prev: unknown, check: (value: unknown, path: string) => string | undefined): string | undefined {
  if (next === prev) return undefined
  if (!isPlainObject(next) || !isPlainObject(prev)) return check(next, 'context')
  for (const key in next) {
    const value = next[key]
    if (value !== prev[key] || !(key in prev)) {
      const bad = check(value, `context.${key}`)
      if (bad) return bad
    }
  }
  return undefined
}

function timerProblem(record: TwinRecord, prev: TwinRecord | undefined, check: (value: unknown, path: string) => string | undefined): string | undefined {
  for (const id in record.t) {
    const event = record.t[id]![1]
    if (prev && prev.t[id]?.[1] === event) continue
    const bad = check(event, `the event of timer "${id}"`)
    if (bad) return bad
  }
  return undefined
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

export type { StateValue }
