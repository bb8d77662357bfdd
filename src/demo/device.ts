import type { CommandReply } from './commandWire.ts'

/** One message a device publishes on `devices/{type}/{id}/{event}`. */
export interface DeviceMessage {
  event: string
  payload: Record<string, unknown>
}

/**
 * A simulated physical device for demos, load tests and soak tests of the
 * twins in twins/. Each one mirrors its twin's state machine, so what it sends
 * is valid for the twin in the state it is in; time is passed in, never read.
 */
export interface SimulatedDevice {
  readonly type: string
  readonly id: string
  /** Where the device sits (building, site, area…): published once on connect to `devices/{type}/{id}/attributes`. */
  attributes: Record<string, string>
  /** The next event this device would publish at time `now` (ms), and advances its internal state. */
  next(now: number): DeviceMessage
  /** Handles a command from the engine (`devices/{type}/{id}/commands/{name}`); the reply becomes its ack. */
  command(name: string, payload: Record<string, unknown>, now: number): CommandReply
}
