import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import mqtt, { type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { WsClient } from '../support/api.ts'
import { EngineProcess } from '../support/engineProcess.ts'
import { FIXTURE_RULES, FIXTURE_TWINS, waitFor } from '../support/env.ts'

const run = promisify(execFile)
const engines: EngineProcess[] = []
const clients: MqttClient[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) c.end(true)
  for (const e of engines.splice(0)) await e.destroy()
})

async function engine(env: Record<string, string> = {}): Promise<EngineProcess> {
  const e = new EngineProcess({ TWINS_DIR: FIXTURE_TWINS, RULES_DIR: FIXTURE_RULES, ...env })
  engines.push(e)
  await e.start()
  return e
}

async function device(url: string): Promise<MqttClient> {
  // No automatic reconnect: a resend after a crash would be a new event, not the acknowledged one.
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: `dev-${Math.random().toString(36).slice(2)}` })
  c.on('error', () => undefined)
  clients.push(c)
  return c
}

describe('engine as a process (embedded broker, managed redis-server)', () => {
  it('an event from mosquitto_pub shows up over HTTP, on a WebSocket and as a derived MQTT event', async () => {
    const e = await engine()
    const ws = await WsClient.connect(`ws://127.0.0.1:${e.httpPort}/ws`)
    ws.send({ op: 'subscribe', type: 'counter', ids: ['m1'], events: true })
    await ws.next('subscribed')
    const listener = await device(e.mqttUrl)
    const derived: string[] = []
    listener.on('message', (topic, payload) => derived.push(`${topic} ${JSON.parse(payload.toString()).data.seq}`))
    await listener.subscribeAsync('twins/counter/+/events/#', { qos: 1 })

    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(e.mqttPort), '-q', '1', '-t', 'devices/counter/m1/inc', '-m', '{"seq":1}'])

    const twin = await waitFor('twin over HTTP', () => e.get('/twins/counter/m1'))
    expect(twin).toMatchObject({ type: 'counter', id: 'm1', value: 'counting', rev: 1, context: { count: 1 } })
    const [change] = await ws.next('change')
    expect(change!.twin).toMatchObject({ id: 'm1', rev: 1 })
    const [event] = await ws.next('event')
    expect(event!.event).toMatchObject({ name: 'counted', twinId: 'm1', data: { seq: 1 } })
    await waitFor('derived event on MQTT', () => derived.length > 0)
    expect(derived).toEqual(['twins/counter/m1/events/counted 1'])
    ws.close()
  })

  it('survives SIGKILL under traffic: acknowledged events applied exactly once, timers fire after restart', async () => {
    const e = await engine()
    const dev = await device(e.mqttUrl)
    await dev.publishAsync('devices/counter/tm/arm', JSON.stringify({ ms: 3000 }), { qos: 1 })
    const armedAt = Date.now()

    // Ten devices publish sequence numbers as fast as PUBACKs come back.
    const ids = Array.from({ length: 10 }, (_, i) => `k${i}`)
    const acked = new Map(ids.map((id) => [id, 0]))
    let stop = false
    const pump = async (id: string) => {
      for (let seq = 1; !stop; seq++) {
        try {
          await dev.publishAsync(`devices/counter/${id}/inc`, JSON.stringify({ seq }), { qos: 1 })
          acked.set(id, seq)
        } catch {
          return
        }
      }
    }
    ids.forEach(pump)
    await waitFor('traffic flowing', () => [...acked.values()].every((n) => n >= 50))
    await e.kill('SIGKILL')
    // Publishes in flight now never get their PUBACK; they may or may not have reached Redis.
    stop = true
    dev.end(true)
    const totalAcked = [...acked.values()].reduce((a, b) => a + b, 0)
    expect(totalAcked).toBeGreaterThanOrEqual(500)

    await e.start()
    for (const id of ids) {
      const twin = await waitFor(`${id} caught up`, async () => {
        const t = await e.get(`/twins/counter/${id}`)
        return t && t.context.lastSeq >= acked.get(id)! ? t : null
      }, 20_000)
      // Every acknowledged event is there; none twice; none out of order.
      expect(twin.context.count).toBe(twin.context.lastSeq)
      expect(twin.context).toMatchObject({ gaps: 0, dupes: 0 })
      expect(twin.rev).toBe(twin.context.count)
    }
    const rung = await waitFor('the timer armed before the crash fires', async () => {
      const t = await e.get('/twins/counter/tm')
      return t?.context.rings === 1 ? t : null
    }, 15_000)
    expect(Date.now() - armedAt).toBeGreaterThanOrEqual(3000)
    expect(rung.rev).toBe(2)
  }, 60_000)

  it('keeps state across a graceful restart (SIGTERM)', async () => {
    const e = await engine()
    const dev = await device(e.mqttUrl)
    for (let seq = 1; seq <= 20; seq++) await dev.publishAsync('devices/counter/g1/inc', JSON.stringify({ seq }), { qos: 1 })
    await waitFor('applied', async () => (await e.get('/twins/counter/g1'))?.rev === 20)
    dev.end(true)
    await e.kill('SIGTERM')
    expect(e.child!.exitCode).toBe(0)
    await e.start()
    expect(await e.get('/twins/counter/g1')).toMatchObject({ rev: 20, context: { count: 20, gaps: 0, dupes: 0 } })
  })
})
