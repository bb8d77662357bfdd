import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { EngineProcess } from '../support/engineProcess.ts'
import { FIXTURE_TWINS, freePort, redisEnv, waitFor } from '../support/env.ts'
import { startServer as run } from '../support/serverProcess.ts'

/** External brokers (issue 15): a broker restart, and a broker that speaks only MQTT 3.1.1. */
const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f()
})
const NO_RULES = join(FIXTURE_TWINS, 'none')

async function engine(env: Record<string, string>): Promise<EngineProcess> {
  const e = new EngineProcess({ TWINS_DIR: FIXTURE_TWINS, RULES_DIR: NO_RULES, KEY_PREFIX: `b${Math.random().toString(36).slice(2, 8)}:`, ...redisEnv(), ...env })
  cleanups.push(() => e.destroy())
  await e.start()
  return e
}

describe('external broker faults', () => {
  it('mosquitto with persistence restarts: the engine reconnects and its persistent session delivers what arrived meanwhile, none lost', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'twin-mosq-'))
    const port = await freePort()
    writeFileSync(join(dir, 'm.conf'), [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence true', `persistence_location ${dir}/`, 'max_queued_messages 100000', 'user root', ''].join('\n'))
    let broker = await run('mosquitto', ['-c', join(dir, 'm.conf')], port)
    cleanups.push(async () => { await broker.stop('SIGKILL'); rmSync(dir, { recursive: true, force: true }) })
    const e = await engine({ MQTT_URL: `mqtt://127.0.0.1:${port}`, MQTT_CLIENT_ID: `ingest-${Math.random().toString(36).slice(2, 8)}` })
    const publish = async (from: number, to: number) => {
      const dev = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, clientId: `d-${from}` })
      for (let seq = from; seq <= to; seq++) await dev.publishAsync('devices/counter/r1/inc', JSON.stringify({ seq }), { qos: 1 })
      await dev.endAsync()
    }
    await publish(1, 50)
    await waitFor('first 50 applied', async () => (await e.get('/twins/counter/r1'))?.rev === 50)
    // The engine sends its PUBACKs as the batch is written, while the worker applies it: give
    // mosquitto a moment to read them. A broker stopped with PUBACKs still on the wire
    // redelivers those messages after its restart (QoS 1 is at least once on this leg too;
    // seen here as 8-32 duplicates when stopped within milliseconds; docs/deploy.md).
    await new Promise((r) => setTimeout(r, 500))
    // SIGTERM: mosquitto saves its sessions (the engine's subscription among them) and stops.
    await broker.stop('SIGTERM')
    await waitFor('/ready says the broker link is down', async () => (await fetch(`${e.httpUrl}/ready`)).status === 503)
    broker = await run('mosquitto', ['-c', join(dir, 'm.conf')], port)
    // Published before the engine is back: the broker queues them for the engine's persistent session.
    await publish(51, 120)
    let last: unknown
    const twin = await waitFor('all 120 applied', async () => {
      const t = await e.get('/twins/counter/r1')
      last = t?.context
      return t?.context.lastSeq === 120 ? t : null
    }, 20_000).catch((err: Error) => {
      throw new Error(`${err.message}; the twin has ${JSON.stringify(last)}; engine output: ${e.output.slice(-3000)}`)
    })
    expect(twin.context).toMatchObject({ count: 120, lastSeq: 120, gaps: 0, dupes: 0 })
  }, 60_000)

  it('a broker that speaks only MQTT 3.1.1 (NATS MQTT gateway): the engine falls back by itself and says MQTT_PROTOCOL=4 in one line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'twin-nats-'))
    const [natsPort, mqttPort] = [await freePort(), await freePort()]
    writeFileSync(join(dir, 'nats.conf'), `listen: 127.0.0.1:${natsPort}\nserver_name: twin-test\njetstream { store_dir: "${dir}/js" }\nmqtt { listen: 127.0.0.1:${mqttPort} }\n`)
    const nats = await run('nats-server', ['-c', join(dir, 'nats.conf')], mqttPort)
    cleanups.push(async () => { await nats.stop('SIGKILL'); rmSync(dir, { recursive: true, force: true }) })
    // The default MQTT_PROTOCOL=5.
    const e = await engine({ MQTT_URL: `mqtt://127.0.0.1:${mqttPort}`, MQTT_CLIENT_ID: 'ingest-nats' })
    expect(e.output).toMatch(/does not speak MQTT 5; using MQTT 3\.1\.1 \(set MQTT_PROTOCOL=4/)
    const dev = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { protocolVersion: 4, reconnectPeriod: 0, clientId: 'nats-dev' })
    for (let seq = 1; seq <= 20; seq++) await dev.publishAsync('devices/counter/n1/inc', JSON.stringify({ seq }), { qos: 1 })
    await dev.endAsync()
    const twin = await waitFor('applied through NATS', async () => {
      const t = await e.get('/twins/counter/n1')
      return t?.rev === 20 ? t : null
    }, 20_000)
    expect(twin.context).toMatchObject({ count: 20, gaps: 0, dupes: 0 })
  }, 60_000)
})
