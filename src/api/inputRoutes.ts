import type { FastifyInstance } from 'fastify'
import type { ApiContext } from './context.ts'
import { errors } from './schemas.ts'
import { TwinError } from '../errors.ts'

/** Most messages in one request, as AWS IoT Events' BatchPutMessage allowed. */
export const MAX_BATCH_MESSAGES = 10

interface BatchMessage {
  messageId: string
  inputName: string
  payload: unknown
  timestamp?: { timeInMillis?: number }
}

/** BatchPutMessage's error entry (AWS IoT Events Data API). */
interface ErrorEntry {
  messageId: string
  errorCode: 'ResourceNotFoundException' | 'InvalidRequestException' | 'InternalFailureException' | 'ServiceUnavailableException'
  errorMessage: string
}

/**
 * POST /inputs/messages: messages on named inputs, in the shape of AWS IoT
 * Events' BatchPutMessage (its own path and body, ADR 0021), so a client of
 * that API keeps working: `{ messages: [{ messageId, inputName, payload }] }`,
 * the payload base64 (what SDKs send for a blob) or the JSON text or object
 * itself. Each message goes to every twin type taking the input, as one on
 * its MQTT topic would. The answer is BatchPutMessage's: 200 with an error
 * entry per message that was not accepted (code `ResourceNotFoundException`
 * for an input no twin type takes, `InvalidRequestException` for a message no
 * target can take, with the engine's TWIN_ERR_ code in the message).
 * Messages are written in the order given (AWS did not promise an order).
 */
export function inputRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.post<{ Body: { messages: BatchMessage[] } }>(
    '/inputs/messages',
    {
      config: { scope: 'write' },
      schema: {
        summary: 'Messages on named inputs (AWS IoT Events BatchPutMessage)',
        body: {
          type: 'object',
          properties: {
            messages: {
              type: 'array',
              minItems: 1,
              maxItems: MAX_BATCH_MESSAGES,
              items: {
                type: 'object',
                properties: {
                  messageId: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-zA-Z0-9_-]+$' },
                  inputName: { type: 'string', minLength: 1, maxLength: 128 },
                  payload: { description: 'base64 of the JSON message (what AWS SDKs send), or its JSON text, or the object' },
                  timestamp: { type: 'object', properties: { timeInMillis: { type: 'integer' } }, description: 'accepted and not used: the engine stamps its own time' },
                },
                required: ['messageId', 'inputName', 'payload'],
                additionalProperties: false,
              },
            },
          },
          required: ['messages'],
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              BatchPutMessageErrorEntries: {
                type: 'array',
                items: { type: 'object', properties: { messageId: { type: 'string' }, errorCode: { type: 'string' }, errorMessage: { type: 'string' } } },
              },
            },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const seen = new Set<string>()
      // Every message's write is issued in this tick, in order: the ingestor pipelines them in that order.
      const results = request.body.messages.map((m) => {
        if (seen.has(m.messageId)) return Promise.reject(new TwinError('TWIN_ERR_BAD_REQUEST', `messageId "${m.messageId}" is used twice in this batch`))
        seen.add(m.messageId)
        try {
          return ctx.ingestor.fromInput(m.inputName, messageText(m.payload), m.messageId)
        } catch (err) {
          return Promise.reject(err)
        }
      })
      const settled = await Promise.allSettled(results)
      const entries: ErrorEntry[] = []
      settled.forEach((s, i) => {
        if (s.status === 'rejected') entries.push(errorEntry(request.body.messages[i]!.messageId, s.reason, request.log))
      })
      return { BatchPutMessageErrorEntries: entries }
    },
  )
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/**
 * A message's text: an object as JSON; a string that starts with `{` as JSON
 * text (the CLI's `raw-in-base64-out` and hand-written requests); any other
 * string as base64 of the text (the wire form of BatchPutMessage's blob).
 */
export function messageText(payload: unknown): string {
  if (payload !== null && typeof payload === 'object' && !Array.isArray(payload)) return JSON.stringify(payload)
  if (typeof payload !== 'string') throw new TwinError('TWIN_ERR_PAYLOAD_NOT_OBJECT', 'payload must be base64 of a JSON object, its JSON text, or the object')
  const text = payload.trim()
  if (text.startsWith('{')) return payload
  if (text.length % 4 !== 0 || !BASE64.test(text)) throw new TwinError('TWIN_ERR_PAYLOAD_NOT_JSON', 'payload is neither JSON text nor base64')
  return Buffer.from(text, 'base64').toString('utf8')
}

function errorEntry(messageId: string, err: unknown, log: { error(obj: object, msg: string): void }): ErrorEntry {
  if (err instanceof TwinError) {
    const errorCode = err.code === 'TWIN_ERR_INPUT_UNKNOWN' ? 'ResourceNotFoundException' : err.code === 'TWIN_ERR_NOT_READY' ? 'ServiceUnavailableException' : 'InvalidRequestException'
    return { messageId, errorCode, errorMessage: `${err.code}: ${err.message}` }
  }
  log.error({ err, messageId }, 'writing an input message failed')
  return { messageId, errorCode: 'InternalFailureException', errorMessage: 'TWIN_ERR_INTERNAL: the message was not written; send it again' }
}
