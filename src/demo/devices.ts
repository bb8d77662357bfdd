import { TwinError } from '../errors.ts'
import { ChargerDevice } from './chargerDevice.ts'
import type { CommandReply } from './commandWire.ts'
import { ElevatorDevice } from './elevatorDevice.ts'
import { MeterDevice } from './meterDevice.ts'

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

const FACTORIES: Record<string, (id: string, random: () => number) => SimulatedDevice> = {
  elevator: (id, random) => new ElevatorDevice(id, random),
  meter: (id, random) => new MeterDevice(id, random),
  charger: (id, random) => new ChargerDevice(id, random),
}

export const DEVICE_TYPES: readonly string[] = Object.freeze(Object.keys(FACTORIES))

/** A device of a type in DEVICE_TYPES. `random` defaults to Math.random; pass a seeded one for reproducible runs. */
export function createDevice(type: string, id: string, random: () => number = Math.random): SimulatedDevice {
  const factory = FACTORIES[type]
  if (!factory) {
    throw new TwinError('TWIN_ERR_UNKNOWN_TYPE', `no simulated device of type "${type}"; choose one of: ${DEVICE_TYPES.join(', ')}`, { type })
  }
  return factory(id, random)
}

export { ChargerDevice, ElevatorDevice, MeterDevice }
export type { CommandReply }
