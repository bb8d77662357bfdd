import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { TwinError, type ErrorCode } from '../errors.ts'

const STATUS: Partial<Record<ErrorCode, number>> = {
  TWIN_ERR_NOT_FOUND: 404,
  TWIN_ERR_UNKNOWN_TYPE: 404,
  TWIN_ERR_PAYLOAD_TOO_LARGE: 413,
  TWIN_ERR_BAD_REQUEST: 400,
  TWIN_ERR_INVALID_ID: 400,
  TWIN_ERR_UNKNOWN_EVENT: 400,
  TWIN_ERR_PAYLOAD_NOT_JSON: 400,
  TWIN_ERR_PAYLOAD_NOT_OBJECT: 400,
  TWIN_ERR_PAYLOAD_RESERVED_FIELD: 400,
  TWIN_ERR_PAYLOAD_SCHEMA: 400,
  TWIN_ERR_BAD_TOPIC: 400,
  TWIN_ERR_COMMAND_INVALID: 400,
  TWIN_ERR_INPUT_KEY_MISSING: 400,
  TWIN_ERR_INPUT_UNKNOWN: 404,
  TWIN_ERR_UNAUTHORIZED: 401,
  TWIN_ERR_FORBIDDEN: 403,
  TWIN_ERR_RATE_LIMITED: 429,
  TWIN_ERR_NOT_READY: 503,
  TWIN_ERR_REDIS_UNAVAILABLE: 503,
  TWIN_ERR_INBOX_FULL: 503,
}

/** HTTP status of an error code (500 for codes that are not the client's doing). */
export function statusOf(code: ErrorCode): number {
  return STATUS[code] ?? 500
}

/** Every error answer has the shape `{ error: { code, message, details? } }`. */
export function errorHandler(err: FastifyError | TwinError, request: FastifyRequest, reply: FastifyReply): void {
  if (err instanceof TwinError) {
    const status = statusOf(err.code)
    if (status === 401) reply.header('www-authenticate', 'Bearer')
    if (status === 503) reply.header('retry-after', '1')
    // 503s (Redis away, inbox full) are logged once by the part that noticed, not per request.
    if (status >= 500 && status !== 503) request.log.error({ err }, 'request failed')
    reply.status(status).send({ error: err.toJSON() })
    return
  }
  const status = err.statusCode ?? 500
  if (status >= 500) {
    request.log.error({ err }, 'request failed')
    reply.status(500).send({ error: { code: 'TWIN_ERR_INTERNAL', message: 'internal error; see the engine log' } })
    return
  }
  // Fastify's own parsing and validation errors (bad JSON body, body too large, unsupported media type, ...).
  const code: ErrorCode = status === 413 ? 'TWIN_ERR_PAYLOAD_TOO_LARGE' : 'TWIN_ERR_BAD_REQUEST'
  reply.status(status).send({ error: { code, message: err.message } })
}
