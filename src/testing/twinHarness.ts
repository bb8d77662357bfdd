import type { EventObject, StateValue } from 'xstate'
import { VirtualClock } from '../clock.ts'
import type { TwinDefinition } from '../definitions/defineTwin.ts'
import { validateEvent } from '../ingest/validate.ts'
import { TwinDriver, type LiveTwin, type StepResult } from '../runtime/twinDriver.ts'

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

  /** Pending timers as `{ id, due }`, soonest first. */
  get timers(): Array<{ id: string; due: number }> {
    return Object.entries(this.twin.record.t)
      .map(([id, [due]]) => ({ id, due }))
      .sort((a, b) => a.due - b.due)
  }

  /** True when the state value matches, as XState's `snapshot.matches`. */
  matches(value: StateValue): boolean {
    return this.twin.snapshot.matches(value as never)
  }

  /**
   * Sends a device event at the current virtual time, validated exactly as the
   * engine validates MQTT input. Throws the TwinError the engine would
   * dead-letter (invalid payload, unknown event, event not accepted).
   */
  send(event: string, payload: Record<string, unknown> = {}): StepResult {
    validateEvent(this.driver.definition, 'harness', event, payload)
    const result = this.driver.step(this.twin, { ...payload, type: event, at: this.clock.now() })
    if (result.error) throw result.error
    this.record(result)
    return result
  }

  /** Moves virtual time forward, firing every timer that falls due, in due order. */
  advance(ms: number): void {
    const until = this.clock.now() + ms
    for (;;) {
      const next = this.timers[0]
      if (!next || next.due > until) break
      this.clock.set(Math.max(this.clock.now(), next.due))
      const result = this.driver.fire(this.twin, next.id, next.due)
      if (result) this.record(result)
    }
    this.clock.set(until)
  }

  private record(result: StepResult): void {
    this.twin = { snapshot: result.snapshot, record: result.record }
    for (const event of result.emitted) this.emitted.push({ ...event, at: result.record.u })
  }
}

export function createTwinHarness(definition: TwinDefinition, options?: { id?: string; clock?: VirtualClock }): TwinHarness {
  return new TwinHarness(definition, options)
}
