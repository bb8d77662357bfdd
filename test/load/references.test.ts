import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import * as hdr from 'hdr-histogram-js'
import mqtt, { type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { WsClient } from '../support/api.ts'
import { ROOT, waitFor } from '../support/env.ts'
import { startMosquitto, type Mosquitto } from '../support/mosquitto.ts'

/** A reference server as the load tool runs it: a real child process, read through its stdout lines. */
interface Child {
  process: ChildProcess
  lines: string[]
  ready: Promise<Record<string, number>>
  exited: Promise<number | null>
}

const children: Child[] = []
const clients: MqttClient[] = []
const sockets: WsClient[] = []
const brokers: Mosquitto[] = []

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.close()
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)))
  await Promise.all(children.splice(0).map((c) => {
    if (c.process.exitCode === null && c.process.signalCode === null) c.process.kill('SIGKILL')
    return c.exited
  }))
  await Promise.all(brokers.splice(0).map((b) => b.stop()))
})

function start(file: string, flags: string[] = []): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'load/reference', file), ...flags], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  let stderr = ''
  child.stderr!.on('data', (d) => (stderr += d))
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)))
  const ready = new Promise<Record<string, number>>((done, fail) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line)
      if (line.startsWith('READY ')) done(JSON.parse(line.slice('READY '.length)) as Record<string, number>)
    })
    void exited.then((code) => fail(new Error(`${file} exited ${code} before READY: ${stderr.slice(-2000)}`)))
  })
  const c = { process: child, lines, ready, exited }
  children.push(c)
  return c
}

async function publisher(port: number): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, reconnectPeriod: 0 })
  clients.push(c)
  return c
}

/** The in-memory reference on its own aedes, or subscribed to a real mosquitto (`--mqtt-url`); returns the port devices publish to. */
async function startInMemory(broker: 'aedes' | 'mosquitto'): Promise<{ ref: Child; devicePort: number; httpPort: number }> {
  if (broker === 'aedes') {
    const ref = start('inMemoryEngine.ts', ['--mqtt-port', '0', '--http-port', '0'])
    const { mqttPort, httpPort } = await ref.ready
    expect(ref.lines).toEqual([`READY {"mqttPort":${mqttPort},"httpPort":${httpPort}}`])
    return { ref, devicePort: mqttPort!, httpPort: httpPort! }
  }
  const mosquitto = await startMosquitto()
  brokers.push(mosquitto)
  const ref = start('inMemoryEngine.ts', ['--mqtt-url', mosquitto.url, '--http-port', '0'])
  const { mqttPort, httpPort } = await ref.ready
  // No broker of its own: 0 says so.
  expect(mqttPort).toBe(0)
  expect(ref.lines).toEqual([`READY {"mqttPort":0,"httpPort":${httpPort}}`])
  return { ref, devicePort: mosquitto.port, httpPort: httpPort! }
}

describe('load/reference/inMemoryEngine.ts', () => {
  it.each(['aedes', 'mosquitto'] as const)('on %s: applies valid device events to an actor per device, streams each change with its rev, and counts the rest as dead letters', async (broker) => {
    const { ref, devicePort, httpPort } = await startInMemory(broker)

    const ws = await WsClient.connect(`ws://127.0.0.1:${httpPort}/ws`)
    sockets.push(ws)
    ws.send({ op: 'subscribe', id: 's1', type: 'meter' })
    expect((await ws.next('subscribed'))[0]).toEqual({ op: 'subscribed', sub: 's1', count: 0 })
    ws.send({ op: 'ping' })
    await ws.next('pong')

    const device = await publisher(devicePort)
    const before = Date.now()
    for (const energyKwh of [1, 2, 3]) {
      await device.publishAsync('devices/meter/m1/reading', JSON.stringify({ energyKwh, powerW: 500 }), { qos: 1 })
    }
    // Fails the meter's schema (powerW is required): a dead letter, still acknowledged.
    await device.publishAsync('devices/meter/m1/reading', '{"energyKwh":4}', { qos: 1 })

    const changes = await ws.next('change', 3)
    // Nothing more is coming: the invalid payload must not have produced a change.
    await new Promise((r) => setTimeout(r, 200))
    expect(ws.of('change')).toHaveLength(3)
    expect(changes.map((m) => [m.sub, m.twin.type, m.twin.id, m.twin.rev, m.twin.context.lastEnergyKwh])).toEqual([
      ['s1', 'meter', 'm1', 1, 1],
      ['s1', 'meter', 'm1', 2, 2],
      ['s1', 'meter', 'm1', 3, 3],
    ])
    expect(Object.keys(changes[0].twin)).toEqual(['type', 'id', 'value', 'context', 'rev', 'updatedAt'])
    expect(changes[2].twin.value).toBe('withinLimit')
    expect(changes[2].twin.updatedAt).toBeGreaterThanOrEqual(before)
    expect(changes[2].twin.updatedAt).toBeLessThanOrEqual(Date.now())

    const health = await (await fetch(`http://127.0.0.1:${httpPort}/health`)).json()
    expect(health).toEqual({ status: 'ok', twins: 1, changes: 3, deadLetters: 1 })

    // A late subscriber gets the current state first, as from the engine.
    ws.send({ op: 'subscribe', id: 's2', type: 'meter', ids: ['m1'] })
    const [snapshot] = await ws.next('snapshot')
    expect(snapshot.twins.map((t: { id: string; rev: number }) => [t.id, t.rev])).toEqual([['m1', 3]])
    expect(ws.of('subscribed')[1]).toEqual({ op: 'subscribed', sub: 's2', count: 1 })

    ref.process.kill('SIGTERM')
    expect(await ref.exited).toBe(0)
  })
})

describe('load/reference/broker.ts and load/reference/mqttSink.ts', () => {
  it('relay publishes to the sink, which reports every message and its latency histogram', async () => {
    const broker = start('broker.ts', ['--mqtt-port', '0'])
    const { mqttPort, httpPort } = await broker.ready
    expect(httpPort).toBe(0)
    expect(broker.lines).toEqual([`READY {"mqttPort":${mqttPort},"httpPort":0}`])

    const sink = start('mqttSink.ts', ['--url', `mqtt://127.0.0.1:${mqttPort}`])
    expect(await sink.ready).toEqual({})

    const device = await publisher(mqttPort)
    for (let i = 0; i < 5; i++) {
      await device.publishAsync('devices/x/y/z', JSON.stringify({ i, _t: performance.timeOrigin + performance.now() }), { qos: 1 })
    }
    // Every second brings a progress line; wait until one has seen all five.
    const progress = () => sink.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string; received: number; histogram: string })
    await waitFor('a progress line with 5 received', () => progress().some((p) => p.type === 'progress' && p.received === 5), 5000)
    const perSecond = progress().reduce((n, p) => n + hdr.decodeFromCompressedBase64(p.histogram).totalCount, 0)
    expect(perSecond).toBe(5)

    sink.process.kill('SIGTERM')
    expect(await sink.exited).toBe(0)
    const final = progress().at(-1)!
    expect(final.type).toBe('final')
    expect(final.received).toBe(5)
    const total = hdr.decodeFromCompressedBase64(final.histogram)
    expect(total.totalCount).toBe(5)
    // Loopback in one test: well under a second, in microseconds.
    expect(total.maxValue).toBeLessThan(1_000_000)

    broker.process.kill('SIGTERM')
    expect(await broker.exited).toBe(0)
  })
})
