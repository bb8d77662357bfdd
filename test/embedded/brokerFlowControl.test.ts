import mqtt from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/embedded/broker.ts'
import { waitFor } from '../support/env.ts'

const brokers: EmbeddedBroker[] = []
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.close()))
})

describe('embedded broker flow control', () => {
  it('reads no further from a connection whose PUBACKs are held, and on when they are released; nothing is refused or lost', async () => {
    const pending: Array<() => void> = []
    const seen: number[] = []
    const b = await startEmbeddedBroker({
      port: 0, host: '127.0.0.1',
      // Every publish is held, as while Redis is away.
      intercept: (_c, _topic, payload) => {
        seen.push(JSON.parse(payload.toString()).n)
        return new Promise<void>((resolve) => pending.push(resolve))
      },
    })
    brokers.push(b)
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.port}`, { protocolVersion: 4, clientId: 'flood', reconnectPeriod: 0 })
    // A device that does not wait for its PUBACKs.
    const acks = Array.from({ length: 5000 }, (_, n) => device.publishAsync('devices/x/y/e', JSON.stringify({ n }), { qos: 1 }))
    await waitFor('publishes arriving', () => seen.length > 0)
    await new Promise((r) => setTimeout(r, 500))
    // One socket read's worth at most; the rest waits in the device's socket.
    const held = seen.length
    expect(held).toBeLessThan(5000)
    await new Promise((r) => setTimeout(r, 300))
    expect(seen.length).toBe(held)
    // Released as they come: every publish gets its PUBACK, once, in order.
    const drain = setInterval(() => { for (const resolve of pending.splice(0)) resolve() }, 5)
    await Promise.all(acks)
    clearInterval(drain)
    expect(seen).toEqual(Array.from({ length: 5000 }, (_, n) => n))
    await device.endAsync()
    console.log(`held per connection while PUBACKs were withheld: ${held} publishes`)
  }, 30_000)
})
