import { ID_PATTERN } from '../model/ids.ts'

/*
 * The device side of the command wire format (docs/protocol.md, "Device
 * commands"). The engine publishes, devices answer:
 *
 *   command  devices/{type}/{id}/commands/{name}  QoS 1  { "id": "<correlation id>", "payload": {...}, "sentAt": <ms> }
 *   ack      devices/{type}/{id}/ack              QoS 1  { "id": "<correlation id>", "ok": true|false, "reason"?: "...", "reported"?: {...} }
 *   attrs    devices/{type}/{id}/attributes       QoS 1  { "<name>": "<string value>", ... }
 */

/** A command as a device receives it. */
export interface DeviceCommand {
  type: string
  /** device (twin) id */
  device: string
  name: string
  /** correlation id, echoed in the ack */
  id: string
  payload: Record<string, unknown>
  sentAt: number | null
}

/** What a device answers to a command. */
export interface CommandReply {
  ok: boolean
  /** why it refused, when not ok */
  reason?: string
  /** the state it now reports (e.g. the cap in force) */
  reported?: Record<string, unknown>
}

/** The reply of a device to a command it does not implement. */
export const UNKNOWN_COMMAND: Readonly<CommandReply> = Object.freeze({ ok: false, reason: 'unknown command' })

const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/

/** Subscription filter for every command to devices of `type`. */
export function commandFilter(type: string): string {
  return `devices/${type}/+/commands/+`
}

export function ackTopic(type: string, id: string): string {
  return `devices/${type}/${id}/ack`
}

export function attributesTopic(type: string, id: string): string {
  return `devices/${type}/${id}/attributes`
}

/**
 * Reads a command message. Returns null for what is not a command a device
 * can answer (another topic, no correlation id, not JSON): without a
 * correlation id there is nothing to acknowledge, and the engine shows the
 * command as timed out.
 */
export function parseCommand(topic: string, payload: Buffer | string): DeviceCommand | null {
  const levels = topic.split('/')
  if (levels.length !== 5 || levels[0] !== 'devices' || levels[3] !== 'commands') return null
  const [, type, device, , name] = levels as [string, string, string, string, string]
  if (!ID_PATTERN.test(device) || !NAME_PATTERN.test(name)) return null
  let body: unknown
  try {
    body = JSON.parse(payload.toString())
  } catch {
    return null
  }
  if (typeof body !== 'object' || body === null) return null
  const { id, payload: args, sentAt } = body as Record<string, unknown>
  if (typeof id !== 'string' || id.length === 0) return null
  return {
    type,
    device,
    name,
    id,
    payload: typeof args === 'object' && args !== null && !Array.isArray(args) ? (args as Record<string, unknown>) : {},
    sentAt: typeof sentAt === 'number' ? sentAt : null,
  }
}

/** The ack message for a command. */
export function ackMessage(command: DeviceCommand, reply: CommandReply): string {
  return JSON.stringify({
    id: command.id,
    ok: reply.ok,
    ...(reply.reason !== undefined ? { reason: reply.reason } : {}),
    ...(reply.reported !== undefined ? { reported: reply.reported } : {}),
  })
}
