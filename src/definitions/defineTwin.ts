import type { ValidateFunction } from 'ajv'
import type { AnyStateMachine } from 'xstate'
import { checkTopicInput, type TopicInput, type TopicInputDeclaration } from './topicInputs.ts'
import { checkOutputs, type EventOutput } from './outputs.ts'
import { compileSchema, type JsonSchema } from './schema.ts'
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
   * Topics outside the template this type takes messages from, the twin id
   * read from a payload path: `[{ topic: 'plant/pressure', event: 'pressure', keyPath: 'motorid' }]`.
   * Several types may take one topic; each message reaches each (ADR 0021).
   */
  inputs?: TopicInputDeclaration[]
  /** Derived events the engine also delivers itself: published to a topic, or fed to an input (src/definitions/outputs.ts). */
  outputs?: Record<string, EventOutput>
}

export interface TwinDefinition extends Readonly<Omit<TwinDefinitionInput, 'topic' | 'inputs' | 'outputs'>> {
  readonly topic: TopicTemplate
  /** input topics, checked (none: []) */
  readonly inputs: readonly TopicInput[]
  readonly outputs: Readonly<Record<string, EventOutput>>
  /** Payload validator per accepted event: the declared ones and the engine's (attributes, ack). */
  readonly validators: ReadonlyMap<string, ValidateFunction>
}

const NO_OUTPUTS: Readonly<Record<string, EventOutput>> = Object.freeze({})
const ENGINE_VALIDATORS = Object.entries(ENGINE_EVENTS).map(([name, schema]) => [name, compileSchema(schema)] as const)


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
  const validators = new Map<string, ValidateFunction>()
  for (const [name, schema] of Object.entries(input.events)) {
    if (!EVENT_PATTERN.test(name)) fail(`event name "${name}" must match [A-Za-z][A-Za-z0-9_-]{0,63}`)
    if (name in ENGINE_EVENTS) fail(`event name "${name}" is handled by the engine for every twin type; rename it`)
    try {
      validators.set(name, compileSchema(schema))
    } catch (err) {
      fail(`event "${name}" has an invalid JSON Schema: ${(err as Error).message}`)
    }
  }
  for (const [name, validate] of ENGINE_VALIDATORS) validators.set(name, validate)
  const topic =
    input.topic === undefined ? parseTopicTemplate(DEFAULT_TOPIC_TEMPLATE) : parseTopicTemplate(input.topic, input.type)
  if (input.inputs !== undefined && !Array.isArray(input.inputs)) fail('inputs must be a list of { topic, event, keyPath?, … }')
  const inputs = (input.inputs ?? []).map((d) => checkTopicInput(input.type, input.events, d, fail))
  const outputs = input.outputs === undefined ? NO_OUTPUTS : checkOutputs(input.outputs, fail)
  return Object.freeze({ ...input, topic, validators, inputs, outputs })
}
