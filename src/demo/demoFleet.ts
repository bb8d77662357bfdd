import { DEVICE_TYPES } from './devices.ts'
import { startFleet, type Fleet } from './fleet.ts'
import type { Config } from '../config.ts'
import type { Engine } from '../roles/engine.ts'

/**
 * The demo fleet of `twin start` (DEMO, on by default): simulated devices of
 * the shipped twin types on the engine's embedded broker. It is not part of
 * the engine: it talks to it over MQTT like any device. Undefined when the
 * demo is off, the broker is external, or no shipped type is defined.
 */
export async function startDemoFleet(engine: Engine, config: Pick<Config, 'demo' | 'demoDevices' | 'demoIntervalMs'>): Promise<Fleet | undefined> {
  if (!config.demo || !engine.embeddedBroker) return undefined
  // The simulators cover the shipped twin types; custom types get no demo devices.
  const types = engine.types.filter((t) => DEVICE_TYPES.includes(t))
  if (types.length === 0) return undefined
  const url = new URL(engine.mqttUrl)
  if (engine.mqttLogin) {
    url.username = encodeURIComponent(engine.mqttLogin.username)
    url.password = encodeURIComponent(engine.mqttLogin.password)
  }
  const fleet = await startFleet({ url: url.toString().replace(/\/$/, ''), types, devicesPerType: config.demoDevices, intervalMs: config.demoIntervalMs })
  engine.log.info({ demoDevices: fleet.devices.length, types }, 'demo fleet started')
  return fleet
}
