import { once } from 'node:events'
import { createConnection, type Socket } from 'node:net'
import mqtt, { type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { startEmbeddedBroker, type EmbeddedBroker, type PublishInterceptor } from '../../src/embedded/broker.ts'

const brokers: EmbeddedBroker[] = []
const clients: MqttClient[] = []
const sockets: Socket[] = []

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy()
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)))
  await Promise.all(brokers.splice(0).map((b) => b.close()))
})

async function broker(intercept?: PublishInterceptor, maxPayloadBytes?: number): Promise<EmbeddedBroker> {
  const b = await startEmbeddedBroker({ port: 0, host: '127.0.0.1', intercept, maxPayloadBytes })
  brokers.push(b)
  return b
}

async function client(b: EmbeddedBroker, clientId: string): Promise<MqttClient> {
  // reconnectPeriod 0: a refused publish closes the connection, and a
  // reconnect would resend it and blur what the test observes.
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.port}`, { protocolVersion: 4, clientId, reconnectPeriod: 0 })
  clients.push(c)
  return c
}

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms))

describe('startEmbeddedBroker', () => {
  it('passes client, topic and payload to intercept and sends PUBACK only after its promise resolves', async () => {
    const seen: Array<{ id: string | undefined; topic: string; payload: string }> = []
    let resolvedAt = 0
    const b = await broker((c, topic, payload) => {
      seen.push({ id: c?.id, topic, payload: payload.toString() })
      return sleep(200).then(() => { resolvedAt = performance.now() })
    })
    const c = await client(b, 'dev-1')
    const t0 = performance.now()
    await c.publishAsync('twins/lamp/l-1/on', '{"x":1}', { qos: 1 })
    const ackedAt = performance.now()

    expect(seen).toEqual([{ id: 'dev-1', topic: 'twins/lamp/l-1/on', payload: '{"x":1}' }])
    expect(resolvedAt).toBeGreaterThan(0)
    expect(ackedAt).toBeGreaterThanOrEqual(resolvedAt)
    expect(ackedAt - t0).toBeGreaterThanOrEqual(190)
  })

  it('sends no PUBACK when the intercept promise rejects, and closes the connection', async () => {
    let calls = 0
    const b = await broker(() => {
      calls++
      return Promise.reject(new Error('redis is down'))
    })
    const c = await client(b, 'dev-2')
    const pubacks: number[] = []
    c.on('packetreceive', (p) => { if (p.cmd === 'puback') pubacks.push(p.messageId!) })
    const closed = new Promise<void>((done) => c.once('close', () => done()))
    let acked = false
    c.publish('twins/lamp/l-1/on', '{}', { qos: 1 }, (err) => { if (!err) acked = true })
    await sleep(500)

    expect(calls).toBe(1)
    expect(pubacks).toEqual([])
    expect(acked).toBe(false)
    await closed
  })

  it('lets a publish through at once when intercept returns undefined', async () => {
    const topics: string[] = []
    const b = await broker((_c, topic) => {
      topics.push(topic)
      return undefined
    })
    const sub = await client(b, 'app')
    await sub.subscribeAsync('twins/#', { qos: 1 })
    const received = new Promise<[string, Buffer]>((done) => sub.once('message', (t, p) => done([t, p])))
    const dev = await client(b, 'dev-3')
    await dev.publishAsync('twins/lamp/l-1/on', 'hi', { qos: 1 })
    const [topic, payload] = await received
    expect(topics).toEqual(['twins/lamp/l-1/on'])
    expect([topic, payload.toString()]).toEqual(['twins/lamp/l-1/on', 'hi'])
  })

  it('keeps PUBACKs in arrival order when a later intercept settles first', async () => {
    const delays: Record<string, number> = { 'twins/a': 300, 'twins/b': 20 }
    const calls: string[] = []
    const b = await broker((_c, topic) => {
      calls.push(topic)
      return sleep(delays[topic] ?? 0)
    })
    // A raw socket so both PUBLISHes go out in one write: aedes then hands
    // them to its handler together, which is where order could be lost.
    const s = createConnection({ host: '127.0.0.1', port: b.port })
    sockets.push(s)
    const acks: number[] = []
    let connacked = false
    s.on('data', (buf) => {
      for (let i = 0; i + 4 <= buf.length; i += 4) {
        if (buf[i] === 0x20) connacked = true
        if (buf[i] === 0x40) acks.push(buf.readUInt16BE(i + 2))
      }
    })
    await once(s, 'connect')
    s.write(connectPacket('raw-1'))
    while (!connacked) await sleep(5)
    s.write(Buffer.concat([publishQos1('twins/a', 1, '{}'), publishQos1('twins/b', 2, '{}')]))
    while (acks.length < 2) await sleep(5)

    expect(calls).toEqual(['twins/a', 'twins/b'])
    expect(acks).toEqual([1, 2])
  })

  it('delivers payloads larger than maxPayloadBytes to intercept rather than dropping the connection', async () => {
    let size = 0
    const b = await broker((_c, _t, payload) => {
      size = payload.length
      return undefined
    }, 1024)
    const c = await client(b, 'dev-4')
    await c.publishAsync('twins/lamp/l-1/on', Buffer.alloc(1024 * 1024, 0x61), { qos: 1 })
    expect(size).toBe(1024 * 1024)
  })
})

// Hand-built MQTT 3.1.1 packets (spec sections 3.1 and 3.3).
function remainingLength(n: number): Buffer {
  const out: number[] = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    out.push(byte)
  } while (n > 0)
  return Buffer.from(out)
}

function str(s: string): Buffer {
  const b = Buffer.from(s)
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
}

function connectPacket(clientId: string): Buffer {
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, 0x02, 0, 60]), str(clientId)])
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body])
}

function publishQos1(topic: string, messageId: number, payload: string): Buffer {
  const body = Buffer.concat([str(topic), Buffer.from([messageId >> 8, messageId & 0xff]), Buffer.from(payload)])
  return Buffer.concat([Buffer.from([0x32]), remainingLength(body.length), body])
}
