/**
 * Every error the engine raises or records, with a stable code. Callers match
 * on `code`, never on the message. Each code is documented in docs/errors.md
 * (a test checks that), so a user who meets one can look up what to do.
 */
export const ErrorCodes = {
  // Input from devices and apps: these become dead letters (MQTT) or 4xx (HTTP).
  TWIN_ERR_BAD_TOPIC: 'topic does not match any twin topic template',
  TWIN_ERR_UNKNOWN_TYPE: 'no twin definition has this type',
  TWIN_ERR_INVALID_ID: 'twin id must match [A-Za-z0-9._:-]{1,128}',
  TWIN_ERR_UNKNOWN_EVENT: 'the twin type does not declare this event',
  TWIN_ERR_PAYLOAD_TOO_LARGE: 'payload is larger than MAX_PAYLOAD_BYTES',
  TWIN_ERR_PAYLOAD_NOT_JSON: 'payload is not valid JSON',
  TWIN_ERR_PAYLOAD_NOT_OBJECT: 'payload must be a JSON object',
  TWIN_ERR_PAYLOAD_RESERVED_FIELD: 'payload uses a field the engine reserves (type, at)',
  TWIN_ERR_PAYLOAD_SCHEMA: 'payload does not match the event schema',
  TWIN_ERR_EVENT_NOT_ACCEPTED: 'the twin machine has no transition for this event in its current state',
  TWIN_ERR_MACHINE_FAILED: 'the twin machine threw while handling the event',
  TWIN_ERR_COMMAND_INVALID: 'a device command names no valid twin or command',
  TWIN_ERR_TWIN_DONE: 'the twin reached a top-level final state and takes no more events',
  TWIN_ERR_STEP_UNSTORABLE: 'the step left a value the engine cannot store (a function, class instance or cycle in context, timer events or derived events)',
  TWIN_ERR_EMIT_INVALID: 'the machine emitted an event whose name MQTT or the engine cannot carry',
  TWIN_ERR_MIGRATION_FAILED: 'a stored twin could not be migrated to the current version of its definition',
  TWIN_ERR_VERSION_AHEAD: 'a stored twin was written by a newer version of its definition than this engine has',
  TWIN_ERR_ACTION_UNSUPPORTED: 'the machine used an action a twin cannot run (sendTo another actor, spawnChild)',
  TWIN_ERR_INPUT_KEY_MISSING: 'a message on an input has no value at the key path of a twin type that takes the input',
  TWIN_ERR_INPUT_UNKNOWN: 'no twin type takes an input of this name',
  TWIN_ERR_PUBLISH_TOPIC: 'a derived event asked to be published to a topic the engine refuses',
  // Apps.
  TWIN_ERR_NOT_FOUND: 'no twin with this type and id exists',
  TWIN_ERR_BAD_REQUEST: 'the request is malformed',
  TWIN_ERR_WS_BAD_MESSAGE: 'a WebSocket message is not valid protocol JSON',
  TWIN_ERR_INTERNAL: 'the engine failed unexpectedly; its log has the details',
  TWIN_ERR_UNAUTHORIZED: 'no valid API token was presented',
  TWIN_ERR_FORBIDDEN: 'the API token lacks the scope the request needs',
  TWIN_ERR_RATE_LIMITED: 'too many HTTP requests from this token or address, or WebSocket messages from this socket',
  TWIN_ERR_NOT_READY: 'the process is not ready to serve (Redis, broker link or shards)',
  TWIN_ERR_DEVICE_FORBIDDEN: 'an MQTT device published or subscribed outside its own topics',
  TWIN_ERR_REDIS_UNAVAILABLE: 'Redis does not answer, is loading its data, or refuses writes (out of memory, MISCONF); retry later',
  TWIN_ERR_INBOX_FULL: 'the shard inbox holds more than INBOX_MAX_LENGTH entries (workers are behind); retry later',
  // Definitions and configuration.
  TWIN_ERR_DEFINITION: 'a twin definition is invalid',
  TWIN_ERR_CONFIG: 'a setting is invalid',
  TWIN_ERR_SHARD_COUNT: 'SHARDS differs from the shard count stored in Redis',
  TWIN_ERR_IOT_MODEL: 'an AWS IoT Events detector model or input cannot be imported',
  TWIN_ERR_IOT_EXPRESSION: 'an AWS IoT Events expression does not parse or uses what IoT Events did not have',
  TWIN_ERR_REPLAY_DEFINITION: 'the definition given to twin replay does not compile or load, is not a definition, or is of another type than the one replayed',
  TWIN_ERR_REPLAY_UNAVAILABLE: 'the data set retains no input to replay for the window asked (RETAIN_INPUT_MS off, or nothing retained yet)',
  // Runtime.
  TWIN_ERR_STALE_EPOCH: 'a commit was refused because another worker owns the shard now',
  TWIN_ERR_REDIS_SERVER_MISSING: 'redis-server was not found on PATH',
  TWIN_ERR_REDIS_SERVER_FAILED: 'the managed redis-server did not start',
  TWIN_ERR_MQTT_PROTOCOL: 'the MQTT broker does not speak the MQTT version asked for (MQTT_PROTOCOL)',
  TWIN_ERR_ADMIN_JOB_UNKNOWN: 'a worker took an admin job of a kind it does not run (queued by a newer release)',
  // Side effects (src/effects).
  TWIN_ERR_WEBHOOK_DELIVERY: 'a webhook receiver did not accept a derived event (non-2xx answer, timeout or network error)',
} as const

export type ErrorCode = keyof typeof ErrorCodes

/** Base class of every engine error: `code` is stable, `message` says what to do. */
export class TwinError extends Error {
  readonly code: ErrorCode
  readonly details?: Record<string, unknown>

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message)
    this.name = 'TwinError'
    this.code = code
    this.details = details
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) }
  }
}

export function isTwinError(err: unknown): err is TwinError {
  return err instanceof TwinError
}
