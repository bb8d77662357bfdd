import { createActor, type AnyActorRef, type AnyMachineSnapshot, type EventObject } from 'xstate'
import type { TwinDefinition } from '../definitions/defineTwin.ts'
import { TwinError } from '../errors.ts'
import type { CommandEmit } from '../model/commands.ts'
import { COMMAND } from '../model/engineEvents.ts'
import type { LiveTwin, MachineEvent, TwinRecord } from '../model/record.ts'

export interface StepResult {
  /** false when the machine did not accept the event (no transition) or threw */
  accepted: boolean
  snapshot: AnyMachineSnapshot
  record: TwinRecord
  emitted: EventObject[]
  /** device commands the step asked for (`sendCommand`), taken out of `emitted` */
  commands: CommandEmit[]
  error?: TwinError
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
 * from a snapshot: statelyai/xstate#5331).
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

  /** The live snapshot for a stored record (restores state value and context). */
  restore(record: TwinRecord): AnyMachineSnapshot {
    return this.definition.machine.resolveState({ value: record.v, context: record.c } as never)
  }

  /** A new twin's first state, with the effects of entering it (e.g. watchdog timers). */
  create(id: string, at: number): StepResult {
    this.actions.length = 0
    const empty: TwinRecord = { v: '', c: undefined, r: 0, u: at, t: {}, d: this.definition.version }
    try {
      const snapshot = this.definition.machine.getInitialSnapshot(this.scope as never, {
        type: this.definition.type,
        id,
      }) as AnyMachineSnapshot
      return this.collect(empty, snapshot, at, true)
    } catch (err) {
      throw new TwinError('TWIN_ERR_DEFINITION', `twin type "${this.definition.type}" failed to create its initial state: ${(err as Error).message}`)
    }
  }

  /** Applies one event. Never throws: a machine error comes back as `accepted: false` with `error`. */
  step(twin: LiveTwin, event: MachineEvent): StepResult {
    this.actions.length = 0
    let next: AnyMachineSnapshot
    try {
      next = this.definition.machine.transition(twin.snapshot, event, this.scope as never) as AnyMachineSnapshot
    } catch (err) {
      return this.refuse(twin, 'TWIN_ERR_MACHINE_FAILED', `twin machine threw on "${event.type}": ${(err as Error).message}`)
    }
    if (next.status === 'error') {
      return this.refuse(twin, 'TWIN_ERR_MACHINE_FAILED', `twin machine failed on "${event.type}": ${String(next.error)}`)
    }
    // XState returns the very same snapshot object when no transition was enabled.
    if (next === twin.snapshot && this.actions.length === 0) {
      return this.refuse(twin, 'TWIN_ERR_EVENT_NOT_ACCEPTED', `"${event.type}" is not accepted in state ${JSON.stringify(twin.record.v)}`)
    }
    return this.collect(twin.record, next, event.at, false)
  }

  /**
   * Fires a pending timer. Returns null for a stale timer (cancelled or re-armed
   * with another due time). A fired timer is consumed even when the machine
   * ignores its event, so the record always changes.
   */
  fire(twin: LiveTwin, timerId: string, due: number): StepResult | null {
    const entry = twin.record.t[timerId]
    if (!entry || entry[0] !== due) return null
    const t = { ...twin.record.t }
    delete t[timerId]
    const consumed: LiveTwin = { snapshot: twin.snapshot, record: { ...twin.record, t } }
    const result = this.step(consumed, { ...entry[1], at: due })
    if (result.accepted) return result
    return { accepted: true, snapshot: twin.snapshot, record: { ...consumed.record, r: twin.record.r + 1, u: due }, emitted: [], commands: [] }
  }

  private refuse(twin: LiveTwin, code: 'TWIN_ERR_EVENT_NOT_ACCEPTED' | 'TWIN_ERR_MACHINE_FAILED', message: string): StepResult {
    return {
      accepted: false,
      snapshot: twin.snapshot,
      record: twin.record,
      emitted: [],
      commands: [],
      error: new TwinError(code, message, { state: twin.record.v }),
    }
  }

  private collect(prev: TwinRecord, snapshot: AnyMachineSnapshot, at: number, initial: boolean): StepResult {
    const timers = { ...prev.t }
    const emitted: EventObject[] = []
    const commands: CommandEmit[] = []
    for (const action of this.actions) {
      const params = action.params ?? {}
      switch (action.type) {
        case 'xstate.emit': {
          const event = params.event as EventObject
          if (event.type !== COMMAND) emitted.push(event)
          else if ((event as CommandEmit).name) commands.push(event as CommandEmit)
          break
        }
        case 'xstate.raise':
        case 'xstate.sendTo': {
          const delay = params.delay
          if (typeof delay !== 'number') break // immediate raise is handled inside the macrostep
          if (action.type === 'xstate.sendTo' && params.to !== this.self) break // twins only talk to themselves
          const event = params.event as EventObject
          const due = at + delay
          const id = (params.id as string | undefined) ?? `${event.type}@${due}`
          timers[id] = [due, event]
          break
        }
        case 'xstate.cancel': {
          delete timers[params.sendId as string]
          break
        }
        default:
          // Custom action functions are not executed: the step is pure and may be
          // replayed. Side effects go through `emit` (derived events).
          break
      }
    }
    const record: TwinRecord = {
      // attributes, commands, history and source marks are the engine's: they carry over
      ...prev,
      v: snapshot.value,
      c: snapshot.context,
      r: prev.r + (initial ? 0 : 1),
      u: at,
      t: timers,
      d: this.definition.version,
    }
    return { accepted: true, snapshot, record, emitted, commands }
  }
}
