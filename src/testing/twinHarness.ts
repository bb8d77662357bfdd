import type { EventObject, StateValue } from 'xstate'
import { VirtualClock } from '../clock.ts'
import { fireTimer, stepTwin } from '../core/engineSteps.ts'
import { TwinDriver, type StepResult } from '../core/twinDriver.ts'
import type { CommandEmit } from '../definitions/commands.ts'
import type { TwinDefinition } from '../definitions/defineTwin.ts'
import { validateEvent } from '../definitions/validate.ts'
import type { CommandMessage } from '../model/commands.ts'
import { pendingTimers, type CommandState, type LiveTwin } from '../model/record.ts'

export interface EmittedEvent extends EventObject {
  /** engine time at which the twin emitted it */
  at: number
}

/**
 * Runs one twin on virtual time with the engine's own step and timer rules,
 * without Redis or MQTT: the test kit for rule authors.
 *
 *   const t = createTwinHarness(elevator, { id: 'e1' })
 *   t.send('doorsOpened', { floor: 3 })
 *   t.advance(60_000)            // fires due watchdogs in time order
 *   expect(t.state).toBe('fault')
 *   expect(t.emitted.map(e => e.type)).toContain('doorsHeldOpen')
 */
export class TwinHarness {
  readonly clock: VirtualClock
  readonly emitted: EmittedEvent[] = []
  /** commands the twin's machine asked for (`sendCommand`), each with the time of its step */
  readonly commands: Array<CommandEmit & { at: number }> = []
  /** commands the engine would have published to this twin's device (recorded `$command`s) */
  readonly published: Array<{ name: string; message: CommandMessage }> = []
  private readonly driver: TwinDriver
  private twin: LiveTwin

  constructor(definition: TwinDefinition, options: { id?: string; clock?: VirtualClock } = {}) {
    this.clock = options.clock ?? new VirtualClock()
    this.driver = new TwinDriver(definition)
    const created = this.driver.create(options.id ?? 'test-1', this.clock.now())
    this.twin = { snapshot: created.snapshot, record: created.record }
    this.record(created)
  }

  get state(): StateValue {
    return this.twin.record.v
  }

  get context(): any {
    return this.twin.record.c
  }

  get rev(): number {
    return this.twin.record.r
  }

  get attributes(): Record<string, string> {
    return this.twin.record.a ?? {}
  }

  /** The device shadow: the last command of each name, desired vs. acknowledged. */
  get commandStates(): Record<string, CommandState> {
    return this.twin.record.k ?? {}
  }

  /** Pending timers as `{ id, due }`, soonest first (timers due at once in the order they were armed). */
  get timers(): Array<{ id: string; due: number }> {
    return pendingTimers(this.twin.record)
  }

  /** True when the state value matches, as XState's `snapshot.matches`. */
  matches(value: StateValue): boolean {
    return this.twin.snapshot.matches(value as never)
  }

  /**
   * Sends a device event at the current virtual time, validated exactly as the
   * engine validates MQTT input, through the same steps (the engine's own
   * `attributes` and `ack` included). Throws the TwinError the engine would
   * dead-letter (invalid payload, unknown event, event not accepted).
   */
  send(event: string, payload: Record<string, unknown> = {}): StepResult {
    validateEvent(this.driver.definition, 'harness', event, payload)
    const result = stepTwin(this.driver, this.twin, event, payload, this.clock.now())
    if (result.error) throw result.error
    if (result.accepted) this.record(result)
    return result
  }

  /**
   * A command arriving for this twin's device, as a rule or an app sends it:
   * recorded as pending with its timeout, and "published" (see `published`).
   * A command the engine would refuse comes back with `error` (not thrown).
   */
  command(name: string, payload: Record<string, unknown> = {}, options: { id?: string; timeoutMs?: number; by?: string } = {}): StepResult {
    const id = options.id ?? `cmd-${this.published.length + 1}`
    const result = stepTwin(this.driver, this.twin, '$command', { id, name, payload, timeoutMs: options.timeoutMs, by: options.by ?? 'test' }, this.clock.now())
    if (!result.accepted) return result
    this.record(result)
    if (result.publish) this.published.push(result.publish)
    return result
  }

  /** Moves virtual time forward, firing every timer that falls due, in due order. */
  advance(ms: number): void {
    const until = this.clock.now() + ms
    for (;;) {
      const next = this.timers[0]
      if (!next || next.due > until) break
      this.clock.set(Math.max(this.clock.now(), next.due))
      const result = fireTimer(this.driver, this.twin, next.id, next.due)
      if (result) this.record(result)
    }
    this.clock.set(until)
  }

  private record(result: StepResult): void {
    this.twin = { snapshot: result.snapshot, record: result.record }
    for (const event of result.emitted) this.emitted.push({ ...event, at: result.record.u })
    for (const command of result.commands) this.commands.push({ ...command, at: result.record.u })
  }
}

export function createTwinHarness(definition: TwinDefinition, options?: { id?: string; clock?: VirtualClock }): TwinHarness {
  return new TwinHarness(definition, options)
}
