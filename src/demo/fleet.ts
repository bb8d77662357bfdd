import mqtt, { type MqttClient } from 'mqtt'
import { ackMessage, ackTopic, attributesTopic, commandFilter, parseCommand } from './commandWire.ts'
import type { SimulatedDevice } from './device.ts'
import { buildFleet } from './layout.ts'

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
  /** commands received for a device of this fleet and answered with an ack */
  readonly commands: number
  stop(): Promise<void>
}

const TICK_MS = 50

/**
 * A fleet of simulated devices on MQTT (QoS 1), laid out in buildings, areas
 * and sites (./layout.ts). One connection carries the whole fleet, so each
 * device's events keep their order. On every (re)connection each device
 * publishes its attributes to `devices/{type}/{id}/attributes`; then each
 * publishes its events on `devices/{type}/{id}/{event}` at a jittered mean
 * interval, and answers the commands it receives on
 * `devices/{type}/{id}/commands/{name}` with an ack on `devices/{type}/{id}/ack`
 * (wire format: ./commandWire.ts).
 */
export async function startFleet(o: FleetOptions): Promise<Fleet> {
  const random = o.random ?? Math.random
  const devices = buildFleet({ types: o.types, devicesPerType: o.devicesPerType, idPrefix: o.idPrefix, random })
  const byKey = new Map(devices.map((d) => [`${d.type}/${d.id}`, d]))
  const client: MqttClient = await mqtt.connectAsync(o.url, { clientId: `fleet-${process.pid}-${Math.floor(random() * 1e9)}`, reconnectPeriod: 1000 })
  let commands = 0

  // Attributes are not retained: a retained copy would be replayed to every
  // new ingest subscription. Republishing on each connection is enough.
  const announce = (): void => {
    for (const d of devices) {
      if (Object.keys(d.attributes).length > 0) client.publish(attributesTopic(d.type, d.id), JSON.stringify(d.attributes), { qos: 1 })
    }
  }
  client.on('connect', announce) // reconnections
  client.on('message', (topic, payload) => {
    const command = parseCommand(topic, payload)
    const device = command && byKey.get(`${command.type}/${command.device}`)
    if (!command || !device) return // another fleet's device, or nothing a device can answer
    const reply = device.command(command.name, command.payload, Date.now())
    client.publish(ackTopic(device.type, device.id), ackMessage(command, reply), { qos: 1 }, (err) => {
      if (!err) commands++
    })
  })
  const types = [...new Set(devices.map((d) => d.type))]
  // mqtt.js resubscribes after a reconnection.
  await client.subscribeAsync(types.map(commandFilter), { qos: 1 })
  announce()

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
    get commands() {
      return commands
    },
    async stop() {
      clearInterval(timer)
      await client.endAsync()
    },
  }
}
