import type { ValidateFunction } from 'ajv'
import type { AnyStateMachine, EventObject, StateValue } from 'xstate'
import { machineProblem } from './checkMachine.ts'
import { checkOutputs, type EventOutput } from './outputs.ts'
import { compileSchema, schemaErrorText, type JsonSchema } from './schema.ts'
import { checkTopicInput, type TopicInput, type TopicInputDeclaration } from './topicInputs.ts'
import { TwinError } from '../errors.ts'
import { ENGINE_EVENTS } from '../model/engineEvents.ts'
import { EVENT_PATTERN, TYPE_PATTERN } from '../model/ids.ts'
import { DEFAULT_TOPIC_TEMPLATE, parseTopicTemplate, type TopicTemplate } from '../model/topics.ts'

export type { EventOutput, JsonSchema, TopicInputDeclaration }

/** What a rule author writes in `twins/<type>.ts`. */
export interface TwinDefinitionInput {
  /** Twin type name, `[a-z][a-z0-9-]{0,63}`; the `{type}` in topics and URLs. */
  type: string
  /** Bump when the machine or context shape changes incompatibly. */
  version: number
  description?: string
  /**
   * The XState v5 machine. It receives `input: { type, id }` and events shaped
   * `{ type: <event>, at: <engine time, ms>, ...payload }`. Delayed transitions
   * (`after`) and delayed `raise`/`sendTo` to itself become durable engine timers;
   * `emit` produces derived events. It must not invoke or spawn actors.
   */
  machine: AnyStateMachine
  /** Every event a device may send, with the JSON Schema of its payload object. */
  events: Record<string, JsonSchema>
  /** Topic template for this type's device events; default `devices/{type}/{id}/{event}`. */
  topic?: string
  /**
   * Yes/no facts about a twin the engine counts live for the whole fleet,
   * beside the counts per state and tag (GET /twins/counts, the console's
   * overview): `{ online: ({ context }) => context.online }`. Pure functions
   * of the state value and context; one that throws counts as false.
   */
  indicators?: Record<string, (twin: { value: StateValue; context: any }) => boolean>
  /**
   * How a twin stored by an older version becomes one of this version:
   * `migrations[n]` takes a twin of version n to n+1 (docs/twins.md,
   * "Versions and migrations"). Pure functions of the stored snapshot; run when
   * a stored twin is loaded, or by `twin migrate`.
   */
  migrations?: Record<number, Migration>
  /** JSON Schema a migrated twin's context must satisfy (checked after migrations, before the twin is written). */
  contextSchema?: JsonSchema
  /**
   * Topics outside the template this type takes messages from, the twin id
   * read from a payload path: `[{ topic: 'plant/pressure', event: 'pressure', keyPath: 'motorid' }]`.
   * Several types may take one topic; each message reaches each (ADR 0021).
   */
  inputs?: TopicInputDeclaration[]
  /** Derived events the engine also delivers itself: published to a topic, or fed to an input (src/definitions/outputs.ts). */
  outputs?: Record<string, EventOutput>
}


/** A stored twin as a migration sees it, and returns it. */
export interface StoredTwinSnapshot {
  /** the definition version it is stored with (the migration's `from`) */
  version: number
  value: StateValue
  context: any
  /** pending timers by id: when they fire, and the event they raise */
  timers: Record<string, { due: number; event: EventObject }>
  /** XState history values: history state id -> ids of the state nodes it remembers */
  historyValue?: Record<string, string[]>
  attributes?: Record<string, string>
}

/** One migration step: a twin of version n (`snapshot.version`) to n+1. Return a new snapshot; the one given is a copy. */
export type Migration = (snapshot: StoredTwinSnapshot, twin: { type: string; id: string }) => StoredTwinSnapshot

export interface TwinDefinition extends Readonly<Omit<TwinDefinitionInput, 'topic' | 'inputs' | 'outputs'>> {
  readonly topic: TopicTemplate
  /** input topics, checked (none: []) */
  readonly inputs: readonly TopicInput[]
  readonly outputs: Readonly<Record<string, EventOutput>>
  /** `contextSchema` compiled; `contextCheckText` says why the last check failed */
  readonly contextCheck?: (context: unknown) => boolean
  readonly contextCheckText?: () => string
  /** Payload validator per accepted event: the declared ones and the engine's (attributes, ack). */
  readonly validators: ReadonlyMap<string, ValidateFunction>
}

const NO_OUTPUTS: Readonly<Record<string, EventOutput>> = Object.freeze({})
const ENGINE_VALIDATORS = Object.entries(ENGINE_EVENTS).map(([name, schema]) => [name, compileSchema(schema)] as const)


/** Migrations are keyed by the version they start from: 1 .. version-1, each a function. */
export function checkMigrations(migrations: Record<number, unknown> | undefined, version: number, fail: (why: string) => never): void {
  for (const [from, step] of Object.entries(migrations ?? {})) {
    const n = Number(from)
    if (!Number.isInteger(n) || n < 1 || n >= version) fail(`migrations[${from}]: a migration takes version n to n+1, so n must be an integer from 1 to ${version - 1}`)
    if (typeof step !== 'function') fail(`migrations[${from}] must be a function (snapshot) => snapshot`)
  }
}

/** The compiled `contextSchema` check, or nothing. */
export function contextCheckOf(schema: JsonSchema | undefined, fail: (why: string) => never): Pick<TwinDefinition, 'contextCheck' | 'contextCheckText'> {
  if (schema === undefined) return {}
  try {
    const validate = compileSchema(schema)
    return { contextCheck: (context) => validate(context) === true, contextCheckText: () => schemaErrorText(validate).replace(/^payload/, 'context') }
  } catch (err) {
    return fail(`contextSchema is not a valid JSON Schema: ${(err as Error).message}`)
  }
}

/** Fields the engine sets on every event a machine sees: `type` (the event name) and `at` (engine time). */
export const RESERVED_FIELDS = ['type', 'at'] as const

/** A reserved field the schema declares (as a property or as required), or undefined. */
function reservedField(schema: JsonSchema): string | undefined {
  const properties = schema.properties && typeof schema.properties === 'object' ? Object.keys(schema.properties) : []
  const required = Array.isArray(schema.required) ? (schema.required as unknown[]) : []
  return RESERVED_FIELDS.find((f) => properties.includes(f) || required.includes(f))
}

/** Validates a twin definition and prepares it for the engine. Throws TWIN_ERR_DEFINITION. */
export function defineTwin(input: TwinDefinitionInput): TwinDefinition {
  const fail = (why: string): never => {
    throw new TwinError('TWIN_ERR_DEFINITION', `twin definition "${input?.type}": ${why}`)
  }
  if (typeof input?.type !== 'string' || !TYPE_PATTERN.test(input.type)) fail('type must match [a-z][a-z0-9-]{0,63}')
  if (!Number.isInteger(input.version) || input.version < 1) fail('version must be a positive integer')
  const machine = input.machine as Partial<AnyStateMachine> | undefined
  if (typeof machine?.transition !== 'function' || typeof machine.resolveState !== 'function') {
    fail('machine must be an XState v5 machine (createMachine or setup().createMachine)')
  }
  if (!input.events || typeof input.events !== 'object' || Object.keys(input.events).length === 0) {
    fail('events must declare at least one event with its payload schema')
  }
  const problem = machineProblem(input.machine, { type: input.type, id: 'probe' })
  if (problem) fail(`machine: ${problem}`)
  const validators = new Map<string, ValidateFunction>()
  for (const [name, schema] of Object.entries(input.events)) {
    if (!EVENT_PATTERN.test(name)) fail(`event name "${name}" must match [A-Za-z][A-Za-z0-9_-]{0,63}`)
    if (name in ENGINE_EVENTS) fail(`event name "${name}" is handled by the engine for every twin type; rename it`)
    const reserved = reservedField(schema)
    if (reserved) fail(`event "${name}" declares the payload field "${reserved}", which the engine sets on every event (${RESERVED_FIELDS.join(', ')}); rename it`)
    try {
      validators.set(name, compileSchema(schema))
    } catch (err) {
      fail(`event "${name}" has an invalid JSON Schema: ${(err as Error).message}`)
    }
  }
  for (const [name, validate] of ENGINE_VALIDATORS) validators.set(name, validate)
  for (const [name, holds] of Object.entries(input.indicators ?? {})) {
    if (!EVENT_PATTERN.test(name)) fail(`indicator name "${name}" must match [A-Za-z][A-Za-z0-9_-]{0,63}`)
    if (typeof holds !== 'function') fail(`indicator "${name}" must be a function of { value, context } returning true or false`)
  }
  checkMigrations(input.migrations, input.version, fail)
  const topic =
    input.topic === undefined ? parseTopicTemplate(DEFAULT_TOPIC_TEMPLATE) : parseTopicTemplate(input.topic, input.type)
  if (input.inputs !== undefined && !Array.isArray(input.inputs)) fail('inputs must be a list of { topic, event, keyPath?, … }')
  const inputs = (input.inputs ?? []).map((d) => checkTopicInput(input.type, input.events, d, fail))
  const outputs = input.outputs === undefined ? NO_OUTPUTS : checkOutputs(input.outputs, fail)
  return Object.freeze({ ...input, topic, validators, inputs, outputs, ...contextCheckOf(input.contextSchema, fail) })
}
