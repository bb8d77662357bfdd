import { TwinError } from '../errors.ts'

/**
 * A `limit` query value, checked again after schema validation: the schema's
 * coercion lets a string like `1e309` through as Infinity (found by
 * test/api/httpFuzz.test.ts), which Redis refuses with a 500.
 */
export function checkedLimit(value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < 1 || value > max) throw new TwinError('TWIN_ERR_BAD_REQUEST', `querystring/limit must be an integer from 1 to ${max}`)
  return value
}

/**
 * JSON Schemas shared by the routes: they validate input and document the API
 * in the OpenAPI document (GET /openapi.json). Response objects allow extra
 * fields (`additionalProperties: true`) because fastify serialises responses
 * with these schemas and would otherwise drop fields added later.
 */
export const errorSchema = {
  type: 'object',
  description: 'Every error: see docs/errors.md',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string', pattern: '^TWIN_ERR_' }, message: { type: 'string' }, details: { type: 'object', additionalProperties: true } },
      required: ['code', 'message'],
      additionalProperties: true,
    },
  },
  required: ['error'],
} as const

export const errors = { '4xx': errorSchema, '5xx': errorSchema } as const

export const twinParams = {
  type: 'object',
  properties: {
    type: { type: 'string', minLength: 1, maxLength: 64, description: 'twin type' },
    id: { type: 'string', minLength: 1, maxLength: 128, description: 'twin id' },
  },
  required: ['type', 'id'],
} as const

export const twinView = {
  type: 'object',
  properties: {
    type: { type: 'string' },
    id: { type: 'string' },
    value: { description: 'state value: a string, or an object for nested/parallel states' },
    context: { description: 'the machine context' },
    rev: { type: 'integer' },
    updatedAt: { type: 'integer', description: 'engine time of the last applied event, ms' },
    tags: { type: 'array', items: { type: 'string' } },
    attributes: { type: 'object', additionalProperties: { type: 'string' } },
    commands: { type: 'object', additionalProperties: true },
    timers: { type: 'array', description: 'pending timers, soonest first', items: { type: 'object', properties: { id: { type: 'string' }, due: { type: 'integer', description: 'ms' } } } },
  },
  additionalProperties: true,
} as const

export const anyObject = { type: 'object', additionalProperties: true } as const
