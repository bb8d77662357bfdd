import { ChargerDevice } from './chargerDevice.ts'
import type { CommandReply } from './commandWire.ts'
import type { SimulatedDevice } from './device.ts'
import { ElevatorDevice } from './elevatorDevice.ts'
import { MeterDevice } from './meterDevice.ts'
import { TwinError } from '../errors.ts'

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
export type { DeviceMessage, SimulatedDevice } from './device.ts'
