/**
 * The reference: a twin definition's machine run by plain XState 5
 * (`createActor`) on XState's own `SimulatedClock`, recording what the
 * conformance suite compares with the engine (observation.ts) after every
 * step of a script.
 *
 * How the reference reads what XState does not put in a snapshot:
 * - pending timers: XState keeps its scheduled events in
 *   `actor.system.getSnapshot()._scheduledEvents` (id, event, delay) but
 *   their start time there is the wall clock (`Date.now()`), so the due time
 *   is taken when the event is scheduled: `system.scheduler.schedule` is
 *   wrapped to note `clock.now() + delay` and the arming order;
 * - time: `SimulatedClock.set(t)` jumps to `t` and fires everything due on
 *   the way *at* `t` (a timer armed by a timer that fired on the way would
 *   count from `t`). The reference steps the clock through every due time
 *   instead (the clock's own `timeouts`), as real time passes: a timer fires
 *   at its due time and what it arms counts from there;
 * - accepted: an event is accepted when the actor is active and XState
 *   selects at least one enabled transition for it
 *   (`machine.getTransitionData(snapshot, event)`, what `transition` uses;
 *   `snapshot.can` is narrower: it says false for a transition that is
 *   enabled but has neither target nor actions). A done actor takes no event.
 *   A delayed event nobody handles is ignored by XState: not a refusal;
 * - emitted events: `actor.on('*')`, stamped with the clock's time; those
 *   `sendCommand` makes (`$command`) are device commands, and one with no
 *   name asks for nothing (twin-engine/define `sendCommand`).
 *
 * Two adaptations to the engine's documented differences (docs/twins.md,
 * "Fidelity to XState"): every device event carries `at` (the engine stamps
 * its time on it), and so does every delayed event when it is armed (its due
 * time), so machines that read `event.at` compare.
 */
import { createActor, SimulatedClock, type AnyActorRef, type AnyMachineSnapshot, type EventObject } from 'xstate'
import type { TwinDefinition } from '../../src/definitions/defineTwin.ts'
import type { CommandEmit } from '../../src/model/commands.ts'
import { COMMAND } from '../../src/model/engineEvents.ts'
import { toJsonValue } from '../../src/model/values.ts'
import { json, type CommandView, type HistoryStep, type Observation, type TimerView } from './observation.ts'

interface ArmedTimer {
  /** the scheduled event id as the machine gave it, or undefined (XState makes up a random one) */
  named: string | undefined
  event: EventObject
  due: number
  seq: number
}

type SimulatedTimeouts = Map<number, { start: number; timeout: number }>

export class ReferenceTwin {
  readonly clock = new SimulatedClock()
  readonly actor: AnyActorRef
  /** every macrostep (device event, or a timer with what it caused), for the expected history */
  readonly steps: HistoryStep[] = []
  /**
   * A delayed event was armed under an id already pending: XState keeps both
   * timeouts, the engine replaces the first (an intentional difference,
   * docs/twins.md), so such scripts cannot be compared.
   */
  rearmedPending = false
  private readonly armed = new Map<string, ArmedTimer>()
  private emitted: Array<Record<string, unknown>> = []
  private commands: CommandView[] = []
  private refused: Array<[string, string]> = []
  private armSeq = 0
  private autoIds = 0
  /** what the next `clock.setTimeout` is for (set by the wrapped scheduler just before it calls the clock) */
  private scheduling: { id: string; timer: ArmedTimer } | undefined

  constructor(
    readonly definition: TwinDefinition,
    readonly id: string,
    start: number,
  ) {
    this.clock.set(start)
    const clock = this.clock
    // The clock XState uses: SimulatedClock's, each timeout wrapped to record its firing as a step.
    const wrapped = {
      now: () => clock.now(),
      setTimeout: (fn: () => void, ms: number) => {
        const what = this.scheduling
        this.scheduling = undefined
        return clock.setTimeout(() => (what ? this.fire(what.id, what.timer, fn) : fn()), ms)
      },
      clearTimeout: (handle: number) => clock.clearTimeout(handle),
    }
    this.actor = createActor(definition.machine, { input: { type: definition.type, id }, clock: wrapped as never })
    const scheduler = this.actor.system.scheduler as { schedule: (source: AnyActorRef, target: AnyActorRef, event: EventObject, delay: number, id?: string) => void }
    const schedule = scheduler.schedule.bind(scheduler)
    scheduler.schedule = (source: AnyActorRef, target: AnyActorRef, event: EventObject, delay: number, id?: string) => {
      const due = clock.now() + delay
      const named = id
      if (id !== undefined && this.timers().some((t) => t.id === id)) this.rearmedPending = true
      const realId = id ?? `auto-${this.autoIds++}`
      // The engine stamps a timer's event with its due time when it fires.
      const stamped = { ...event, at: due }
      const timer: ArmedTimer = { named, event: stamped, due, seq: this.armSeq++ }
      this.armed.set(realId, timer)
      this.scheduling = { id: realId, timer }
      schedule(source, target, stamped, delay, realId)
    }
    this.actor.on('*', (event: EventObject) => {
      if (event.type !== COMMAND) this.emitted.push({ ...(json(toJsonValue(event)) as Record<string, unknown>), at: clock.now() })
      else if ((event as CommandEmit).name) this.commands.push(commandView(event as CommandEmit, `${definition.type}/${id}`))
    })
    this.actor.start()
  }

  get snapshot(): AnyMachineSnapshot {
    return this.actor.getSnapshot() as AnyMachineSnapshot
  }

  /** A device event at the current time (the engine's event: payload, `type`, `at`). */
  send(type: string, payload: Record<string, unknown> = {}): void {
    const event = { ...payload, type, at: this.clock.now() }
    const before = this.snapshot
    // A done actor is stopped: XState drops what it is sent.
    if (before.status !== 'active') {
      this.refused.push([type, 'TWIN_ERR_TWIN_DONE'])
      return
    }
    const from = this.emitted.length
    this.actor.send(event)
    if (this.ignored(before, event, from)) this.refused.push([type, 'TWIN_ERR_EVENT_NOT_ACCEPTED'])
    else this.record(type, before, from)
    // Timers armed with no delay fall due at once: fire them before time moves on.
    this.clock.set(this.clock.now())
  }

  /** Moves time forward by `ms`, stopping at every due time on the way. */
  advance(ms: number): void {
    const until = this.clock.now() + ms
    for (;;) {
      let next = Infinity
      for (const t of (this.clock as unknown as { timeouts: SimulatedTimeouts }).timeouts.values()) next = Math.min(next, t.start + t.timeout)
      if (next > until) break
      this.clock.set(Math.max(next, this.clock.now()))
    }
    this.clock.set(until)
  }

  /** What the suite compares, since the last observation. */
  observe(): Observation {
    const s = this.snapshot
    const o: Observation = {
      value: s.value,
      context: json(toJsonValue(s.context)),
      tags: [...s.tags].sort(),
      timers: this.timers(),
      emitted: this.emitted,
      commands: this.commands,
      refused: this.refused,
      done: s.status === 'done',
    }
    if (s.status === 'done' && s.output !== undefined) o.output = json(toJsonValue(s.output))
    this.emitted = []
    this.commands = []
    this.refused = []
    return o
  }

  /** The pending timers, in the order they will fire (due time, then arming order). */
  timers(): TimerView[] {
    const scheduled = (this.actor.system.getSnapshot() as { _scheduledEvents: Record<string, { id: string }> })._scheduledEvents
    const out: Array<TimerView & { seq: number }> = []
    for (const key in scheduled) {
      const id = scheduled[key]!.id
      const t = this.armed.get(id)!
      out.push({ id: t.named ?? `~${t.event.type}`, due: t.due, event: t.event.type, seq: t.seq })
    }
    return out.sort((a, b) => a.due - b.due || a.seq - b.seq).map(({ seq: _, ...t }) => t)
  }

  private fire(id: string, timer: ArmedTimer, fn: () => void): void {
    this.armed.delete(id)
    const before = this.snapshot
    const from = this.emitted.length
    fn()
    // XState ignores a delayed event no transition takes; that is no refusal (and no step) either.
    if (!this.ignored(before, timer.event, from)) this.record(timer.named ?? timer.event.type, before, from)
  }

  /**
   * XState took no transition for the event and nothing came of it: no
   * transition was enabled, and the snapshot (XState returns the same object
   * when nothing changed) and the emitted events are as they were.
   */
  private ignored(before: AnyMachineSnapshot, event: EventObject, emittedBefore: number): boolean {
    const enabled = before.status === 'active' && this.definition.machine.getTransitionData(before, event).length > 0
    return !enabled && this.snapshot === before && this.emitted.length === emittedBefore
  }

  private record(cause: string, before: AnyMachineSnapshot, from: number): void {
    const after = this.snapshot
    this.steps.push({ at: this.clock.now(), e: cause, f: before.value, t: after.value, x: this.emitted.slice(from).map((e) => e.type as string) })
  }
}

function commandView(c: CommandEmit, self: string): CommandView {
  const view: CommandView = { to: c.to ? `${c.to.type}/${c.to.id}` : self, name: c.name, payload: json(c.payload ?? {}) }
  if (c.timeoutMs !== undefined) view.timeoutMs = c.timeoutMs
  return view
}
