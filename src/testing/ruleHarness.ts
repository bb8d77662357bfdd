import type { StateValue } from 'xstate'
import type { EmittedEvent, TwinHarness } from './twinHarness.ts'
import { VirtualClock } from '../clock.ts'
import { routeStep } from '../core/ruleRouting.ts'
import { TwinDriver, type StepResult } from '../core/twinDriver.ts'
import type { CommandEmit } from '../definitions/commands.ts'
import { ruleAsTwin, type RuleDefinition, type RuleFeedEvent, type RuleInput, type RuleSourceTwin } from '../definitions/defineRule.ts'
import { TwinError } from '../errors.ts'
import { ID_PATTERN } from '../model/ids.ts'
import type { LiveTwin } from '../model/record.ts'

/** A device command a rule step asked for, stamped with the engine time of the step. */
export interface IssuedCommand extends CommandEmit {
  at: number
}

/** What the harness knows of a source twin: given with a feed, or remembered from the last one. */
export interface SourceSnapshot {
  value: StateValue
  context?: any
  attributes?: Record<string, string>
}

/** A real twin (a TwinHarness on the rule's clock) whose changes and derived events feed the rule. */
export interface ConnectedTwin {
  readonly type: string
  readonly id: string
  readonly twin: TwinHarness
  /** Sends a device event to the twin (validated as the engine does; throws what it would dead-letter) and feeds the rule. */
  send(event: string, payload?: Record<string, unknown>): void
  /** Sets the twin's attributes, as `devices/{type}/{id}/attributes` does, and feeds the rule. */
  setAttributes(attributes: Record<string, string>): void
}

interface Connection {
  type: string
  id: string
  twin: TwinHarness
  attributes: Record<string, string>
  rev: number
  seen: number
}

/**
 * Runs one rule actor (one group) on virtual time with the engine's own step
 * and timer rules, without Redis or MQTT: the rule author's test kit.
 *
 *   const h = createRuleHarness(buildingElevators, { group: 'b1' })
 *   h.feedChange('elevator', 'e1', { value: 'fault', context: { online: true }, attributes: { building: 'b1' } })
 *   h.advance(61_000)
 *   expect(h.emitted.map((e) => e.type)).toEqual(['buildingWithoutElevator'])
 *
 * Routing follows the engine (src/definitions/defineRule.ts):
 * - an input takes a feed only for its twin type, and a derived event only if
 *   it is listed in `events`; a type or event no input takes throws
 *   TWIN_ERR_UNKNOWN_TYPE / TWIN_ERR_UNKNOWN_EVENT (a test feeding what the
 *   engine would never route is a broken test);
 * - the source twin's group is computed with the input's `groupBy`; a feed
 *   for another group is not delivered (the method returns null);
 * - with `changes: 'state'` a change is delivered when the state value differs
 *   from the twin's last feed, or when the twin joins the group; with `'all'`
 *   always;
 * - a twin that leaves the group (its attributes now name another one) is
 *   delivered one last `<twin>.changed`, so the rule can forget it.
 *
 * Attributes and context left out of a feed are the source twin's last ones;
 * for a twin never fed, attributes default to `{ [groupBy]: group }` when
 * `groupBy` is an attribute name.
 */
export class RuleHarness {
  readonly clock: VirtualClock
  readonly group: string
  readonly rule: RuleDefinition
  readonly emitted: EmittedEvent[] = []
  readonly commands: IssuedCommand[] = []
  private readonly driver: TwinDriver
  private readonly sources = new Map<string, RuleSourceTwin>()
  private readonly connections: Connection[] = []
  private actor: LiveTwin

  constructor(rule: RuleDefinition, options: { group: string; clock?: VirtualClock }) {
    if (!ID_PATTERN.test(options.group)) {
      throw new TwinError('TWIN_ERR_INVALID_ID', `rule group "${options.group}" must match [A-Za-z0-9._:-]{1,128}`)
    }
    this.rule = rule
    this.group = options.group
    this.clock = options.clock ?? new VirtualClock()
    this.driver = new TwinDriver(ruleAsTwin(rule))
    const created = this.driver.create(options.group, this.clock.now())
    this.actor = { snapshot: created.snapshot, record: created.record }
    this.record(created)
  }

  get state(): StateValue {
    return this.actor.record.v
  }

  get context(): any {
    return this.actor.record.c
  }

  get rev(): number {
    return this.actor.record.r
  }

  /** Pending timers as `{ id, due }`, soonest first (timers due at once in the order they were armed, as the engine fires them). */
  get timers(): Array<{ id: string; due: number }> {
    return Object.entries(this.actor.record.t)
      .map(([id, [due, , seq]]) => ({ id, due, seq: seq ?? -1 }))
      .sort((a, b) => a.due - b.due || a.seq - b.seq)
      .map(({ id, due }) => ({ id, due }))
  }

  /** True when the state value matches, as XState's `snapshot.matches`. */
  matches(value: StateValue): boolean {
    return this.actor.snapshot.matches(value as never)
  }

  /** Types of the derived events emitted so far, in order. */
  get emittedTypes(): string[] {
    return this.emitted.map((e) => e.type)
  }

  /**
   * A source twin changed (its step applied) at the current virtual time:
   * delivered as `<twinType>.changed` if the engine would route it here.
   * Returns the rule's step, or null when nothing was delivered.
   */
  feedChange(twinType: string, twinId: string, source: SourceSnapshot): StepResult | null {
    const inputs = this.inputsFor(twinType).filter((i) => (i.changes ?? 'none') !== 'none')
    if (inputs.length === 0) {
      throw new TwinError('TWIN_ERR_UNKNOWN_TYPE', `rule "${this.rule.name}" takes no changes of "${twinType}"; add an input with changes: 'state' or 'all'`)
    }
    const twin = this.source(twinType, twinId, source, inputs[0]!)
    const event = `${twinType}.changed`
    if (!this.routed(inputs, twin, []).some((f) => f.event === event)) return null
    return this.feed({ type: event, twinId, value: twin.after.value, context: twin.after.context, attributes: twin.after.attributes })
  }

  /**
   * A source twin emitted derived event `name` with `data` (its fields without
   * `type`) at the current virtual time: delivered as `<twinType>.<name>` if the
   * engine would route it here. Returns the rule's step, or null.
   */
  feedEvent(twinType: string, twinId: string, name: string, data: Record<string, unknown> = {}, source?: SourceSnapshot): StepResult | null {
    const inputs = this.inputsFor(twinType).filter((i) => i.events?.includes(name))
    if (inputs.length === 0) {
      throw new TwinError('TWIN_ERR_UNKNOWN_EVENT', `rule "${this.rule.name}" takes no "${name}" events of "${twinType}"; list it in the input's events`)
    }
    const twin = this.source(twinType, twinId, source, inputs[0]!)
    const event = `${twinType}.${name}`
    if (!this.routed(inputs, twin, [{ name, data }]).some((f) => f.event === event)) return null
    return this.feed({ type: event, twinId, data, value: twin.after.value, context: twin.after.context, attributes: twin.after.attributes })
  }

  /**
   * Delivers a feed event as is, at the current virtual time, with no routing:
   * for what routing cannot produce on its own (a redelivered duplicate, an
   * odd order). Throws only when the rule machine itself fails.
   */
  feed<TContext = Record<string, unknown>>(event: Omit<RuleFeedEvent<TContext>, 'at' | 'sourceAt'> & { sourceAt?: number }): StepResult {
    const at = this.clock.now()
    const result = this.driver.step(this.actor, { sourceAt: at, ...event, at })
    if (result.error?.code === 'TWIN_ERR_MACHINE_FAILED') throw result.error
    // A rule that ignores a feed in its current state is normal, not an error.
    if (result.accepted) this.record(result)
    return result
  }

  /**
   * Connects a real twin: after each of its steps (`send`, or a timer firing
   * in `advance`) the rule is fed its change and its derived events, routed
   * as the engine would. The twin must run on this harness's clock.
   */
  connect(type: string, id: string, twin: TwinHarness, attributes: Record<string, string> = {}): ConnectedTwin {
    if (twin.clock !== this.clock) throw new TwinError('TWIN_ERR_BAD_REQUEST', `create the ${type} "${id}" harness with { clock: ruleHarness.clock }`)
    const c: Connection = { type, id, twin, attributes, rev: twin.rev, seen: twin.emitted.length }
    this.connections.push(c)
    this.sync(c, true)
    return {
      type,
      id,
      twin,
      send: (event, payload = {}) => {
        twin.send(event, payload)
        this.sync(c, false)
      },
      setAttributes: (next) => {
        c.attributes = { ...next }
        this.sync(c, true)
      },
    }
  }

  /**
   * Moves virtual time forward, firing every timer that falls due, in due
   * order: the rule's own, and those of connected twins (whose steps feed the
   * rule at the time they fire).
   */
  advance(ms: number): void {
    const until = this.clock.now() + ms
    for (;;) {
      const own = this.timers[0]
      let next: { due: number; connection: Connection | null } | null = own && own.due <= until ? { due: own.due, connection: null } : null
      for (const c of this.connections) {
        const due = c.twin.timers[0]?.due
        if (due !== undefined && due <= until && (next === null || due < next.due)) next = { due, connection: c }
      }
      if (!next) break
      this.clock.set(Math.max(this.clock.now(), next.due))
      if (next.connection) {
        next.connection.twin.advance(0)
        this.sync(next.connection, false)
      } else {
        const result = this.driver.fire(this.actor, own!.id, own!.due)
        if (result?.error?.code === 'TWIN_ERR_MACHINE_FAILED') throw result.error
        if (result) this.record(result)
      }
    }
    this.clock.set(until)
  }

  /** Feeds the rule what a connected twin did since the last sync, if the rule takes it. */
  private sync(c: Connection, changed: boolean): void {
    const source: SourceSnapshot = { value: c.twin.state, context: c.twin.context, attributes: c.attributes }
    const inputs = this.rule.inputs.filter((i) => i.twin === c.type)
    if (changed || c.twin.rev !== c.rev) {
      c.rev = c.twin.rev
      if (inputs.some((i) => (i.changes ?? 'none') !== 'none')) this.feedChange(c.type, c.id, source)
    }
    const events = c.twin.emitted.slice(c.seen)
    c.seen = c.twin.emitted.length
    for (const { type, at: _at, ...data } of events) {
      if (inputs.some((i) => i.events?.includes(type))) this.feedEvent(c.type, c.id, type, data, source)
    }
  }

  private inputsFor(twinType: string): RuleInput[] {
    const inputs = this.rule.inputs.filter((i) => i.twin === twinType)
    if (inputs.length === 0) {
      throw new TwinError('TWIN_ERR_UNKNOWN_TYPE', `rule "${this.rule.name}" has no input for twin type "${twinType}"; its inputs: ${this.rule.inputs.map((i) => i.twin).join(', ')}`)
    }
    return inputs
  }

  /** The source twin as fed (what is left out: as last fed), remembering what it was before. */
  private source(type: string, id: string, given: SourceSnapshot | undefined, input: RuleInput): { before: RuleSourceTwin | null; after: RuleSourceTwin } {
    const key = `${type}/${id}`
    const before = this.sources.get(key) ?? null
    let attributes = given?.attributes ?? before?.attributes
    if (!attributes) {
      if (typeof input.groupBy !== 'string') {
        throw new TwinError('TWIN_ERR_BAD_REQUEST', `give the attributes of ${type} "${id}": rule "${this.rule.name}" groups it with a function`)
      }
      attributes = { [input.groupBy]: this.group }
    }
    const value = given?.value ?? before?.value
    if (value === undefined) throw new TwinError('TWIN_ERR_BAD_REQUEST', `give the state value of ${type} "${id}": it was never fed`)
    const after: RuleSourceTwin = { type, id, value, context: given?.context ?? before?.context ?? {}, attributes }
    this.sources.set(key, after)
    return { before, after }
  }

  /** The feeds for this rule actor's group, routed as the engine routes them (src/core/ruleRouting.ts). */
  private routed(inputs: RuleInput[], twin: { before: RuleSourceTwin | null; after: RuleSourceTwin }, events: Array<{ name: string; data: Record<string, unknown> }>) {
    const feeds = routeStep(inputs.map((input) => ({ rule: this.rule, input })), twin.before, twin.after, events)
    return feeds.filter((f) => f.group === this.group)
  }

  private record(result: StepResult): void {
    this.actor = { snapshot: result.snapshot, record: result.record }
    const at = result.record.u
    for (const event of result.emitted) this.emitted.push({ ...event, at })
    for (const command of result.commands) this.commands.push({ ...command, at })
  }
}

export function createRuleHarness(rule: RuleDefinition, options: { group: string; clock?: VirtualClock }): RuleHarness {
  return new RuleHarness(rule, options)
}
