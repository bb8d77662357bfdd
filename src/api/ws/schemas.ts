import { Ajv, type ValidateFunction } from 'ajv'
import { TwinError } from '../../errors.ts'
import { PROTOCOL_VERSION, WHERE_OPS, type ClientMessage } from '../../client/protocol.ts'

/**
 * The JSON Schema of every WebSocket message, in both directions: the one
 * source of truth. The server validates client input with them; docs/schemas/
 * holds them as files (test/api/wsSchemas.test.ts checks the files match) and
 * docs/protocol.md links there. Types: src/client/protocol.ts.
 */

type Schema = Record<string, unknown>

/** Limits of one subscription, also announced in `welcome`. */
export const LIMITS = {
  subscriptions: 100,
  ids: 10_000,
  since: 10_000,
  where: 8,
  /** `context.a.b.c.d`: the root plus at most 4 levels */
  pathDepth: 4,
  inValues: 100,
  idLength: 64,
  /** largest client frame (ws `maxPayload`); a larger one closes the socket with 1009 */
  messageBytes: 64 * 1024,
} as const

const TWIN_ID = '^[A-Za-z0-9._:-]{1,128}$'
const NAME = { type: 'string', minLength: 1, maxLength: 128 }
const subId = { type: 'string', minLength: 1, maxLength: LIMITS.idLength }
const op = (name: string) => ({ const: name })

const where: Schema = {
  type: 'object',
  required: ['path', 'op'],
  additionalProperties: false,
  properties: {
    path: { type: 'string', pattern: `^(context|attributes)(\\.[A-Za-z0-9_-]{1,64}){1,${LIMITS.pathDepth}}$` },
    op: { enum: [...WHERE_OPS] },
    value: {},
  },
  allOf: [
    { if: { properties: { op: { enum: ['eq', 'ne'] } } }, then: { required: ['value'] } },
    { if: { properties: { op: { enum: ['lt', 'lte', 'gt', 'gte'] } } }, then: { required: ['value'], properties: { value: { type: ['number', 'string'] } } } },
    { if: { properties: { op: { const: 'in' } } }, then: { required: ['value'], properties: { value: { type: 'array', maxItems: LIMITS.inValues } } } },
    { if: { properties: { op: { const: 'exists' } } }, then: { properties: { value: { type: 'boolean' } } } },
  ],
}

export const clientSchemas: Record<ClientMessage['op'], Schema> = {
  hello: {
    $id: 'client/hello',
    description: 'Optional first message: the protocol version the client speaks. Answered by welcome.',
    type: 'object',
    required: ['op', 'protocol'],
    additionalProperties: false,
    properties: { op: op('hello'), protocol: { const: PROTOCOL_VERSION }, client: { type: 'string', maxLength: 128 } },
  },
  subscribe: {
    $id: 'client/subscribe',
    description: 'Subscribe to the twins of one type that match every given filter; `since` resumes.',
    type: 'object',
    required: ['op', 'type'],
    additionalProperties: false,
    properties: {
      op: op('subscribe'),
      id: subId,
      type: { type: 'string', minLength: 1, maxLength: 64 },
      ids: { type: 'array', maxItems: LIMITS.ids, items: { type: 'string', pattern: TWIN_ID } },
      state: { anyOf: [{ type: 'string', minLength: 1, maxLength: 256 }, { type: 'array', minItems: 1, maxItems: 32, items: { type: 'string', minLength: 1, maxLength: 256 } }] },
      tags: { type: 'array', minItems: 1, maxItems: 32, items: NAME },
      where: { type: 'array', minItems: 1, maxItems: LIMITS.where, items: where },
      events: { anyOf: [{ type: 'boolean' }, { type: 'array', minItems: 1, maxItems: 64, items: NAME }] },
      changes: { type: 'boolean' },
      since: { type: 'object', maxProperties: LIMITS.since, propertyNames: { pattern: TWIN_ID }, additionalProperties: { type: 'integer', minimum: 0 } },
    },
  },
  unsubscribe: {
    $id: 'client/unsubscribe',
    type: 'object',
    required: ['op', 'id'],
    additionalProperties: false,
    properties: { op: op('unsubscribe'), id: subId },
  },
  ping: {
    $id: 'client/ping',
    description: 'Answered by pong with the same ref.',
    type: 'object',
    required: ['op'],
    additionalProperties: false,
    properties: { op: op('ping'), ref: { type: 'string', maxLength: 64 } },
  },
}

const twin: Schema = {
  type: 'object',
  required: ['type', 'id', 'value', 'context', 'rev', 'updatedAt'],
  properties: {
    type: { type: 'string' },
    id: { type: 'string' },
    value: { type: ['string', 'object'] },
    context: {},
    rev: { type: 'integer', minimum: 0 },
    updatedAt: { type: 'number' },
    tags: { type: 'array', items: { type: 'string' } },
    attributes: { type: 'object', additionalProperties: { type: 'string' } },
    commands: { type: 'object' },
    timers: { type: 'array', items: { type: 'object', required: ['id', 'due'], properties: { id: { type: 'string' }, due: { type: 'number' } } } },
  },
}
const sub = { type: 'string' }
const count = { type: 'integer', minimum: 0 }
const server = (name: string, description: string, required: string[], properties: Schema): Schema => ({
  $id: `server/${name}`,
  description,
  type: 'object',
  required: ['op', ...required],
  additionalProperties: false,
  properties: { op: op(name), ...properties },
})

export const serverSchemas: Record<string, Schema> = {
  welcome: server('welcome', 'First message on every connection (and the answer to hello).', ['protocol', 'heartbeatMs', 'limits'], {
    protocol: { const: PROTOCOL_VERSION },
    heartbeatMs: count,
    limits: { type: 'object', required: ['rate', 'burst', 'subscriptions', 'ids', 'messageBytes'], properties: { rate: count, burst: count, subscriptions: count, ids: count, messageBytes: count } },
  }),
  snapshot: server('snapshot', 'Current state of matching twins, in pages, after subscribe.', ['sub', 'twins'], { sub, twins: { type: 'array', items: twin } }),
  subscribed: server('subscribed', 'The initial state is complete; live changes follow.', ['sub', 'count'], {
    sub,
    count,
    resumed: { type: 'object', required: ['unchanged', 'replayed', 'gaps'], properties: { unchanged: count, replayed: count, gaps: count } },
  }),
  change: server('change', 'A twin changed (match: false: it left the filter; conflated: earlier revs were skipped).', ['sub', 'twin'], {
    sub,
    match: { const: false },
    conflated: { const: true },
    twin,
  }),
  event: server('event', 'A derived event of a matching twin.', ['sub', 'event'], {
    sub,
    event: { type: 'object', required: ['id', 'type', 'twinId', 'name', 'at', 'data'], properties: { id: { type: 'string' }, type: { type: 'string' }, twinId: { type: 'string' }, name: { type: 'string' }, at: { type: 'number' }, data: { type: 'object' } } },
  }),
  gap: server('gap', 'Resume could not replay revs from+1..to of a twin; its current state follows in a snapshot.', ['sub', 'id', 'from', 'to'], { sub, id: { type: 'string' }, from: count, to: count }),
  conflated: server('conflated', 'The client fell behind: what follows is the latest state of `twins` twins; `droppedEvents` derived events were lost.', ['sub', 'twins', 'droppedEvents'], { sub, twins: count, droppedEvents: count }),
  unsubscribed: server('unsubscribed', 'Confirms unsubscribe.', ['sub'], { sub }),
  pong: server('pong', 'Answers ping.', [], { ref: { type: 'string' } }),
  heartbeat: server('heartbeat', 'Sent every heartbeatMs; a client that hears nothing for 3 intervals should reconnect.', ['at'], { at: { type: 'number' } }),
  status: server('status', 'Redis went away (live changes stop, state is kept) or came back; sent on each change, and at connect while it is away.', ['redis', 'message', 'at'], {
    redis: { enum: ['up', 'down', 'refusing-writes'] },
    code: { const: 'TWIN_ERR_REDIS_UNAVAILABLE' },
    message: { type: 'string' },
    at: { type: 'number' },
  }),
  error: server('error', 'A message was refused; the connection stays open.', ['code', 'message'], {
    code: { type: 'string', pattern: '^TWIN_ERR_[A-Z_]+$' },
    message: { type: 'string' },
    sub,
    ref: { type: 'string' },
  }),
}

// strictRequired off: the where-item if/then branches require `value`, declared one level up.
const ajv = new Ajv({ allErrors: false, strict: true, strictRequired: false, allowUnionTypes: true })
const clientValidators = new Map<string, ValidateFunction>(Object.entries(clientSchemas).map(([name, s]) => [name, ajv.compile(s)]))
const serverValidators = new Map<string, ValidateFunction>(Object.entries(serverSchemas).map(([name, s]) => [name, ajv.compile(s)]))

/**
 * Parses and validates one client frame. Throws TWIN_ERR_WS_BAD_MESSAGE
 * saying what is wrong; the message (if any) is returned for `ref`.
 */
export function parseClientMessage(text: string): ClientMessage {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new TwinError('TWIN_ERR_WS_BAD_MESSAGE', `not JSON (${(err as Error).message}); send one JSON object per text frame`)
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new TwinError('TWIN_ERR_WS_BAD_MESSAGE', 'a message must be a JSON object with an "op"')
  const opName = (parsed as { op?: unknown }).op
  const validate = typeof opName === 'string' ? clientValidators.get(opName) : undefined
  if (!validate) {
    const shown = JSON.stringify(opName ?? null).slice(0, 40)
    throw new TwinError('TWIN_ERR_WS_BAD_MESSAGE', `unknown op ${shown}; use one of ${[...clientValidators.keys()].join(', ')}`)
  }
  if (!validate(parsed)) {
    throw new TwinError('TWIN_ERR_WS_BAD_MESSAGE', `${opName}: ${ajv.errorsText(validate.errors, { dataVar: 'message' })} (see docs/protocol.md)`)
  }
  return parsed as ClientMessage
}

/** Why a server message breaks its schema, or null: tests check everything the server sends. */
export function serverMessageError(message: { op?: unknown }): string | null {
  const validate = typeof message.op === 'string' ? serverValidators.get(message.op) : undefined
  if (!validate) return `unknown op ${JSON.stringify(message.op)}`
  const name = message.op as string
  return validate(message) ? null : ajv.errorsText(validate.errors, { dataVar: name })
}
