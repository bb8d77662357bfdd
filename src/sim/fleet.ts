import mqtt, { type MqttClient } from 'mqtt'
import { createDevice, type SimulatedDevice } from './devices.ts'

export interface FleetOptions {
  url: string
  /** devices per type */
  devicesPerType: number
  types: readonly string[]
  /** mean ms between two events of one device */
  intervalMs: number
  idPrefix?: string
  random?: () => number
}

export interface Fleet {
  readonly devices: readonly SimulatedDevice[]
  /** events published and acknowledged by the broker */
  readonly published: number
  stop(): Promise<void>
}

const TICK_MS = 50

/**
 * A fleet of simulated devices publishing their events over MQTT (QoS 1,
 * `devices/{type}/{id}/{event}`), each at a jittered mean interval. One
 * connection carries the whole fleet, so each device's events keep their order.
 */
export async function startFleet(o: FleetOptions): Promise<Fleet> {
  const random = o.random ?? Math.random
  const devices: SimulatedDevice[] = []
  for (const type of o.types) {
    for (let n = 1; n <= o.devicesPerType; n++) devices.push(createDevice(type, `${o.idPrefix ?? 'demo'}-${type}-${n}`, random))
  }
  const client: MqttClient = await mqtt.connectAsync(o.url, { clientId: `fleet-${process.pid}-${Math.floor(random() * 1e9)}`, reconnectPeriod: 1000 })
  const start = Date.now()
  const due = devices.map(() => start + random() * o.intervalMs)
  let published = 0
  const timer = setInterval(() => {
    const now = Date.now()
    devices.forEach((device, i) => {
      if (due[i]! > now) return
      due[i] = now + o.intervalMs * (0.5 + random())
      const { event, payload } = device.next(now)
      client.publish(`devices/${device.type}/${device.id}/${event}`, JSON.stringify(payload), { qos: 1 }, (err) => {
        if (!err) published++
      })
    })
  }, TICK_MS)
  return {
    devices,
    get published() {
      return published
    },
    async stop() {
      clearInterval(timer)
      await client.endAsync()
    },
  }
}
