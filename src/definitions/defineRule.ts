import type { AnyStateMachine, StateValue } from 'xstate'
import { machineProblem } from './checkMachine.ts'
import { checkMigrations, contextCheckOf, type Migration, type TwinDefinition } from './defineTwin.ts'
import type { JsonSchema } from './schema.ts'
import { TwinError } from '../errors.ts'
import { TYPE_PATTERN } from '../model/ids.ts'
import { DEFAULT_TOPIC_TEMPLATE, parseTopicTemplate } from '../model/topics.ts'

/**
 * What a rule's `groupBy` and input filters see of a source twin, after the
 * step that fed the rule. `TContext`: the source twin's context type, when the
 * rule imports it from the twin's file (`RuleSourceTwin<MeterContext>`);
 * otherwise its fields are `unknown` and checked where they are read.
 */
export interface RuleSourceTwin<TContext = Record<string, unknown>> {
  type: string
  id: string
  value: StateValue
  context: TContext
  /** the twin's attributes (building, site, area…), set over HTTP or by the device */
  attributes: Record<string, string>
}

/**
 * One stream of input for a rule: changes and/or derived events of one twin
 * type. Every input is routed to the rule actor of the source twin's group.
 */
export interface RuleInput {
  /** source twin type */
  twin: string
  /**
   * Which changes of the source twin the rule receives as `<twin>.changed`:
   * `'state'` when the state value changes (and when the twin joins or leaves
   * the group: a twin whose group changes sends its old group a last change),
   * `'all'` on every applied change (context too), `'none'` (default) for none.
   */
  changes?: 'state' | 'all' | 'none'
  /** derived events of the source twin the rule receives as `<twin>.<name>`; default none */
  events?: string[]
  /**
   * The group (rule actor id) a source twin belongs to: the name of one of its
   * attributes, or a function of the twin. A twin without a group (undefined,
   * '' or not a valid id) feeds no rule actor.
   */
  // `any`: a function written for one twin type's context (`RuleSourceTwin<MeterContext>`) is accepted too.
  groupBy: string | ((twin: RuleSourceTwin<any>) => string | undefined)
}

/**
 * Events a rule machine receives (besides its own timers). `at` is the engine
 * time at which the rule actor received it (what its timers count from);
 * `sourceAt` the engine time of the source twin's step; `twinId` the source
 * twin, and `value`, `context`, `attributes` its state after that step.
 *
 *   { type: 'elevator.changed', twinId, value, context, attributes, at }
 *   { type: 'elevator.faulted', twinId, data: { …derived event fields }, value, context, attributes, at }
 */
export interface RuleFeedEvent<TContext = Record<string, unknown>> {
  type: string
  twinId: string
  sourceAt: number
  value: StateValue
  /** the source twin's context (typed as RuleSourceTwin's) */
  context: TContext
  attributes: Record<string, string>
  data?: Record<string, unknown>
  at: number
}

/** What a rule author writes in `rules/<name>.ts`. */
export interface RuleDefinitionInput {
  /** Rule name, `[a-z][a-z0-9-]{0,63}`; shares the namespace of twin types (a rule actor is `<name>/<group>`). */
  name: string
  /** Bump when the machine or context shape changes incompatibly. */
  version: number
  description?: string
  inputs: RuleInput[]
  /**
   * The XState v5 machine of one group. It receives `input: { type: <name>, id: <group> }`
   * and RuleFeedEvents; delayed events become durable engine timers, `emit`
   * produces derived events of the rule actor, `sendCommand` commands devices.
   */
  machine: AnyStateMachine
  /** As for twins: `migrations[n]` takes a stored rule actor of version n to n+1. */
  migrations?: Record<number, Migration>
  /** As for twins: the JSON Schema a migrated actor's context must satisfy. */
  contextSchema?: JsonSchema
}

export interface RuleDefinition extends Readonly<RuleDefinitionInput> {
  readonly kind: 'rule'
}

/** Validates a rule definition. Throws TWIN_ERR_DEFINITION. */
export function defineRule(input: RuleDefinitionInput): RuleDefinition {
  const fail = (why: string): never => {
    throw new TwinError('TWIN_ERR_DEFINITION', `rule definition "${input?.name}": ${why}`)
  }
  if (typeof input?.name !== 'string' || !TYPE_PATTERN.test(input.name)) fail('name must match [a-z][a-z0-9-]{0,63}')
  if (!Number.isInteger(input.version) || input.version < 1) fail('version must be a positive integer')
  const machine = input.machine as Partial<AnyStateMachine> | undefined
  if (typeof machine?.transition !== 'function' || typeof machine.resolveState !== 'function') {
    fail('machine must be an XState v5 machine (createMachine or setup().createMachine)')
  }
  const problem = machineProblem(input.machine, { type: input.name, id: 'probe' })
  if (problem) fail(`machine: ${problem}`)
  if (!Array.isArray(input.inputs) || input.inputs.length === 0) fail('inputs must list at least one source twin type')
  for (const [i, source] of input.inputs.entries()) {
    if (typeof source?.twin !== 'string' || !TYPE_PATTERN.test(source.twin)) fail(`inputs[${i}].twin must be a twin type`)
    if (source.changes !== undefined && !['state', 'all', 'none'].includes(source.changes)) fail(`inputs[${i}].changes must be 'state', 'all' or 'none'`)
    if (source.events !== undefined && (!Array.isArray(source.events) || source.events.some((e) => typeof e !== 'string'))) {
      fail(`inputs[${i}].events must be a list of derived event names`)
    }
    if ((source.changes ?? 'none') === 'none' && !source.events?.length) fail(`inputs[${i}] takes neither changes nor events`)
    if (typeof source.groupBy !== 'string' && typeof source.groupBy !== 'function') fail(`inputs[${i}].groupBy must be an attribute name or a function`)
  }
  checkMigrations(input.migrations, input.version, fail)
  contextCheckOf(input.contextSchema, fail)
  return Object.freeze({ ...input, kind: 'rule' as const })
}

/**
 * A rule as the runtime drives it: a twin definition with no device events
 * (its input comes from the engine's routing, not from MQTT), so the same
 * driver, store, timers and fencing serve both.
 */
export function ruleAsTwin(rule: RuleDefinition): TwinDefinition {
  return Object.freeze({
    type: rule.name,
    version: rule.version,
    description: rule.description,
    machine: rule.machine,
    migrations: rule.migrations,
    contextSchema: rule.contextSchema,
    ...contextCheckOf(rule.contextSchema, (why) => {
      throw new TwinError('TWIN_ERR_DEFINITION', `rule definition "${rule.name}": ${why}`)
    }),
    events: {},
    topic: parseTopicTemplate(DEFAULT_TOPIC_TEMPLATE),
    validators: new Map(),
    inputs: [],
    outputs: {},
  })
}
