/**
 * Random scripts for the shipped twins and rules (shipped.test.ts): device
 * events whose payloads are generated from each event's JSON Schema (as the
 * definition declares it, so every payload passes ingest's validation), rule
 * feeds shaped as the engine routes them, and time advances around the
 * twins' own delays.
 */
import fc from 'fast-check'
import type { JsonSchema, TwinDefinition } from '../../src/definitions/defineTwin.ts'
import type { ScriptStep } from './observation.ts'

type Schema = JsonSchema & {
  type?: string
  enum?: readonly unknown[]
  minimum?: number
  maximum?: number
  exclusiveMinimum?: number
  minLength?: number
  maxLength?: number
  properties?: Record<string, Schema>
  required?: string[]
}

/** Values for the subset of JSON Schema the shipped twins use: typed properties with bounds, enums and lengths. */
export function fromSchema(schema: Schema): fc.Arbitrary<unknown> {
  if (schema.enum) return fc.constantFrom(...schema.enum)
  switch (schema.type) {
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -1000, max: schema.maximum ?? 1000 })
    case 'number': {
      const min = schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 0.001 : (schema.minimum ?? -1e6)
      const max = schema.maximum ?? 1e6
      // Whole numbers most of the time (meters and chargers report them), fractions too.
      return fc.oneof({ weight: 3, arbitrary: fc.integer({ min: Math.ceil(min), max: Math.floor(max) }) }, fc.double({ min, max, noNaN: true, noDefaultInfinity: true }))
    }
    case 'string':
      return fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 12, 12) })
    case 'boolean':
      return fc.boolean()
    default:
      return payloadOf(schema)
  }
}

/** A payload object: required properties always, optional ones sometimes. */
export function payloadOf(schema: Schema): fc.Arbitrary<Record<string, unknown>> {
  const properties = schema.properties ?? {}
  const model: Record<string, fc.Arbitrary<unknown>> = {}
  for (const [name, s] of Object.entries(properties)) model[name] = fromSchema(s)
  return fc.record(model, { requiredKeys: schema.required ?? [] }) as fc.Arbitrary<Record<string, unknown>>
}

/** Any declared event of the twin, with a payload valid for its schema. */
export function deviceEvent(twin: TwinDefinition): fc.Arbitrary<ScriptStep> {
  const events = Object.entries(twin.events)
  return fc.oneof(...events.map(([event, schema]) => payloadOf(schema as Schema).map((payload) => ({ send: event, payload }))))
}

/** Time passing: short gaps, the twin's own delays (just before, at, just after), and long silences. */
export function advance(delays: readonly number[]): fc.Arbitrary<ScriptStep> {
  const around = delays.flatMap((d) => [d - 1, d, d + 1])
  return fc.oneof(fc.integer({ min: 1, max: 5000 }), fc.constantFrom(...around), fc.integer({ min: 1, max: 2 * Math.max(...delays) })).map((ms) => ({ advance: ms }))
}

/** A script: the first event (which creates the twin), then events and advances. */
export function script(first: ScriptStep, step: fc.Arbitrary<ScriptStep>, maxLength: number): fc.Arbitrary<ScriptStep[]> {
  return fc.array(step, { minLength: 1, maxLength }).map((rest) => [first, ...rest])
}

/** A rule feed as the engine routes it: `<type>.changed` or `<type>.<derived event>`, with the source twin after its step. */
export interface FeedShape {
  /** source twin type */
  type: string
  ids: readonly string[]
  /** feed event names after `<type>.` */
  events: readonly string[]
  values: readonly string[]
  context: fc.Arbitrary<Record<string, unknown>>
  attributes: fc.Arbitrary<Record<string, string>>
  /** the derived event's data, for event feeds */
  data?: fc.Arbitrary<Record<string, unknown>>
}

export function feed(shape: FeedShape, sourceAt: number): fc.Arbitrary<ScriptStep> {
  return fc
    .record({
      event: fc.constantFrom(...shape.events),
      twinId: fc.constantFrom(...shape.ids),
      value: fc.constantFrom(...shape.values),
      context: shape.context,
      attributes: shape.attributes,
      data: shape.data ?? fc.constant({}),
    })
    .map(({ event, data, ...twin }) => {
      const payload: Record<string, unknown> = { ...twin, sourceAt }
      if (event !== 'changed') payload.data = data
      return { send: `${shape.type}.${event}`, payload }
    })
}
