import type { COMMAND } from './engineEvents.ts'

/** Default time a device has to acknowledge a command before it shows as timed out. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000
/** Longest a command may wait for its acknowledgement. */
export const MAX_COMMAND_TIMEOUT_MS = 24 * 3600_000
/** Command names a twin keeps (its device shadow); each keeps only its last command. */
export const MAX_COMMAND_NAMES = 32

/** A command for a device, as a twin or rule action describes it. */
export interface CommandRequest {
  /** the device's twin; omitted in a twin's own machine = its own device */
  to?: { type: string; id: string }
  /** command name, `[A-Za-z][A-Za-z0-9_-]{0,63}`: the last level of `devices/{type}/{id}/commands/{name}` */
  name: string
  payload?: Record<string, unknown>
  /** how long the device has to acknowledge it; default 30 s */
  timeoutMs?: number
}

/** The event a command action emits; the engine takes it out of the derived events. */
export interface CommandEmit extends CommandRequest {
  type: typeof COMMAND
}

/** A command on its way to a twin: the payload of its `$command` inbox entry. */
export interface CommandRequestPayload {
  /** correlation id, stable across replays */
  id: string
  name: string
  payload: Record<string, unknown>
  timeoutMs?: number
  /** rule actor or twin key that asked, or 'api' */
  by: string
}

/** What the device receives on `devices/{type}/{id}/commands/{name}`. */
export interface CommandMessage {
  id: string
  payload: Record<string, unknown>
  sentAt: number
}
