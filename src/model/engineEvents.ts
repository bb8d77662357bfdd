/** A JSON Schema for an event payload (draft-07 / 2019-09 subset that ajv accepts). */
export type JsonSchema = Record<string, unknown>

/**
 * Events every twin type accepts without declaring them, handled by the
 * engine before (instead of) the twin's machine:
 *
 * - `attributes`: what the twin is part of (building, site, area…), the keys
 *   rules group by. A string value sets, null removes. From the device
 *   (`devices/{type}/{id}/attributes`) or over HTTP.
 * - `ack`: the device's answer to a command (`devices/{type}/{id}/ack`),
 *   matched by correlation id.
 */
export const ENGINE_EVENTS: Readonly<Record<string, JsonSchema>> = {
  attributes: {
    maxProperties: 32,
    propertyNames: { pattern: '^[A-Za-z][A-Za-z0-9_-]{0,63}$' },
    additionalProperties: { type: ['string', 'null'], maxLength: 128 },
  },
  ack: {
    properties: {
      id: { type: 'string', minLength: 1, maxLength: 256 },
      ok: { type: 'boolean' },
      reason: { type: 'string', maxLength: 512 },
      reported: { type: 'object' },
    },
    required: ['id'],
    additionalProperties: false,
  },
}

/**
 * A device command, by one name wherever it travels: the event `sendCommand`
 * emits (taken out of the derived events), the outbox entry routing it to the
 * device's twin, and that twin's inbox event that records and sends it. Names
 * starting with `$` are the engine's own: EVENT_PATTERN keeps devices and
 * machines from using them.
 */
export const COMMAND = '$command'
/** Timer ids of command timeouts: `$cmd:<command name>`. */
export const COMMAND_TIMER_PREFIX = '$cmd:'
/**
 * A twin brought to its definition's current version: the history entry
 * `$migrate:<from>-><to>`, and the inbox event `twin migrate` queues for each
 * twin to migrate it eagerly (a no-op once the twin is current).
 */
export const MIGRATE = '$migrate'
