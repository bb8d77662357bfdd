import { RESERVED_FIELDS, type TwinDefinition } from './defineTwin.ts'
import { schemaErrorText } from './schema.ts'
import { TwinError } from '../errors.ts'
import { ID_PATTERN } from '../model/ids.ts'


/** Parses a device payload into an object. Throws a TwinError naming what is wrong. */
export function parsePayload(payload: Buffer | string, maxBytes: number): Record<string, unknown> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length
  if (size > maxBytes) {
    throw new TwinError('TWIN_ERR_PAYLOAD_TOO_LARGE', `payload is ${size} bytes; the limit is ${maxBytes} (MAX_PAYLOAD_BYTES)`, { size, limit: maxBytes })
  }
  if (size === 0) return {}
  let value: unknown
  try {
    value = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'))
  } catch (err) {
    throw new TwinError('TWIN_ERR_PAYLOAD_NOT_JSON', `payload is not valid JSON: ${(err as Error).message}`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TwinError('TWIN_ERR_PAYLOAD_NOT_OBJECT', `payload must be a JSON object, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`)
  }
  return value as Record<string, unknown>
}

/** Checks that `id` and `event` are valid for the definition and the payload fits the event's schema. */
export function validateEvent(definition: TwinDefinition, id: string, event: string, payload: Record<string, unknown>): void {
  if (!ID_PATTERN.test(id)) {
    throw new TwinError('TWIN_ERR_INVALID_ID', `twin id "${truncate(id)}" is invalid: use 1-128 of A-Z a-z 0-9 . _ : -`)
  }
  const validate = definition.validators.get(event)
  if (!validate) {
    throw new TwinError('TWIN_ERR_UNKNOWN_EVENT', `twin type "${definition.type}" has no event "${truncate(event)}"; it accepts: ${[...definition.validators.keys()].join(', ')}`)
  }
  for (const field of RESERVED_FIELDS) {
    if (field in payload) {
      throw new TwinError('TWIN_ERR_PAYLOAD_RESERVED_FIELD', `payload field "${field}" is reserved by the engine; rename it`)
    }
  }
  if (!validate(payload)) {
    throw new TwinError('TWIN_ERR_PAYLOAD_SCHEMA', `"${event}" payload is invalid: ${schemaErrorText(validate)}`, { errors: validate.errors })
  }
}

export function truncate(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}…` : text
}
