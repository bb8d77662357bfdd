import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { shardRange } from '../../src/model/ids.ts'
import { Keys } from '../../src/store/keys.ts'
import { decodeOutboxEntry } from '../../src/store/outboxStream.ts'
import { connectRedis } from '../../src/store/redis.ts'
import { EngineProcess } from '../support/engineProcess.ts'
import { FIXTURE_RULES, FIXTURE_TWINS, dropPrefix, freePort, redisCluster, redisEnv, redisUrl, waitFor } from '../support/env.ts'
import { startServer as run, type ServerProcess } from '../support/serverProcess.ts'

/**
 * External brokers (issue 15): a broker restart, rules running through a
 * broker outage, and a broker that speaks only MQTT 3.1.1.
 */
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

/** mosquitto with persistence on a free port: `restart()` after `stop()` brings it back on the same port and data. */
async function persistentMosquitto(): Promise<{ url: string; port: number; stop(): Promise<void>; restart(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'twin-mosq-'))
  const port = await freePort()
  writeFileSync(join(dir, 'm.conf'), [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence true', `persistence_location ${dir}/`, 'max_queued_messages 100000', 'user root', ''].join('\n'))
  let broker: ServerProcess = await run('mosquitto', ['-c', join(dir, 'm.conf')], port)
  cleanups.push(async () => { await broker.stop('SIGKILL'); rmSync(dir, { recursive: true, force: true }) })
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    // SIGTERM: mosquitto saves its sessions (subscriptions, queued messages) and stops.
    stop: () => broker.stop('SIGTERM'),
    restart: async () => { broker = await run('mosquitto', ['-c', join(dir, 'm.conf')], port) },
  }
}

describe('external broker faults', () => {
  it('mosquitto with persistence restarts: the engine reconnects and its persistent session delivers what arrived meanwhile, none lost', async () => {
    const broker = await persistentMosquitto()
    const port = broker.port
    const e = await engine({ MQTT_URL: broker.url, MQTT_CLIENT_ID: `ingest-${Math.random().toString(36).slice(2, 8)}` })
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
    // The engine's subscription is among the sessions mosquitto saves.
    await broker.stop()
    await waitFor('/ready says the broker link is down', async () => (await fetch(`${e.httpUrl}/ready`)).status === 503)
    await broker.restart()
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

  it('mosquitto stopped: rules keep being fed and commands routed from events sent over HTTP; once it is back every derived event and command is published, in order, none lost', async () => {
    const broker = await persistentMosquitto()
    const prefix = `r${Math.random().toString(36).slice(2, 8)}:`
    // A front process (ingest + api) and a worker process (shards and their relay), both on the external broker.
    const env = { MQTT_URL: broker.url, KEY_PREFIX: prefix, SHARDS: '8', RULES_DIR: FIXTURE_RULES }
    const front = await engine({ ...env, TWIN_ROLES: 'ingest,api', MQTT_CLIENT_ID: `ingest-${prefix}` })
    const worker = await engine({ ...env, TWIN_ROLES: 'worker' })
    await waitFor('the worker owns every shard', async () => {
      const c = await front.get('/cluster')
      return c?.workers.length === 1 && c.shards.every((s: { owner: string | null }) => s.owner === c.workers[0].id)
    }, 20_000)
    // An app on the broker with a persistent session: what is published while it is away is kept for it.
    const seen: Array<{ topic: string; id: string; seq?: number }> = []
    const app = await mqtt.connectAsync(broker.url, { clientId: `app-${prefix}`, clean: false, reconnectPeriod: 200 })
    app.on('error', () => undefined)
    cleanups.push(() => app.endAsync(true))
    app.on('message', (topic, payload) => {
      const body = JSON.parse(payload.toString()) as { id: string; data?: { seq?: number } }
      seen.push({ topic, id: body.id, seq: body.data?.seq })
    })
    await app.subscribeAsync(['twins/#', 'devices/+/+/commands/#'], { qos: 1 })

    const post = async (type: string, id: string, event: string, payload: object) => {
      const res = await fetch(`${front.httpUrl}/twins/${type}/${id}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ event, payload }) })
      expect(res.status).toBe(202)
    }
    const groups = ['g1', 'g2', 'g3']
    const members = groups.flatMap((g) => [`${g}-a`, `${g}-b`])
    const rule = async (g: string) => (await front.get(`/twins/counter-total/${g}`))?.context as { events: number; alerted: boolean; counts: Record<string, number> } | undefined
    for (const id of members) await post('counter', id, 'attributes', { group: id.slice(0, 2) })
    await waitFor('every group\'s rule knows its two members', async () => {
      for (const g of groups) if (Object.keys((await rule(g))?.counts ?? {}).length !== 2) return false
      return true
    })

    await broker.stop()
    await waitFor('/ready of both processes says the broker link is down', async () =>
      (await fetch(`${front.httpUrl}/ready`)).status === 503 && (await fetch(`${worker.httpUrl}/ready`)).status === 503)
    // Devices keep reporting through another path: 5 events per counter over HTTP.
    for (let seq = 1; seq <= 5; seq++) for (const id of members) await post('counter', id, 'inc', { seq })
    // The rules are fed meanwhile, their state moves, and each commands a counter through its twin.
    await waitFor('every rule fed all 10 counted events and over its limit, during the outage', async () => {
      for (const g of groups) {
        const c = await rule(g)
        if (c?.events !== 10 || !c.alerted) return false
      }
      return true
    }, 20_000)
    const commanded = await waitFor('a slowDown command pending on one counter per group', async () => {
      const pending: string[] = []
      for (const id of members) if ((await front.get(`/twins/counter/${id}`))?.commands?.slowDown?.status === 'pending') pending.push(id)
      return pending.length === groups.length ? pending : null
    })

    await broker.restart()
    // Everything the engine committed for MQTT, read from the outboxes, is what the app must see.
    const redis = connectRedis(redisUrl(), 'check', redisCluster())
    cleanups.push(async () => { await dropPrefix(redis, prefix); await redis.quit() })
    const keys = new Keys(prefix)
    const expected = { events: new Set<string>(), commands: new Set<string>() }
    for (const shard of shardRange(8)) {
      for (const [, fields] of (await redis.xrange(keys.shard(shard).outbox, '-', '+')) as Array<[string, string[]]>) {
        const entry = decodeOutboxEntry(fields)
        if (entry.kind === 'derived') expected.events.add(entry.event.id)
        if (entry.kind === 'publish') expected.commands.add(entry.message.id)
      }
    }
    expect(expected.commands.size).toBe(groups.length)
    expect(expected.events.size).toBeGreaterThanOrEqual(members.length * 5 + groups.length)
    await waitFor('every derived event and command published once the broker is back', () => {
      const ids = new Set(seen.map((s) => s.id))
      return [...expected.events, ...expected.commands].every((id) => ids.has(id))
    }, 30_000).catch((err: Error) => {
      throw new Error(`${err.message}; seen ${new Set(seen.map((s) => s.id)).size} of ${expected.events.size + expected.commands.size}; worker output: ${worker.output.slice(-3000)}`)
    })
    expect(seen.filter((s) => s.topic.endsWith('/commands/slowDown')).map((s) => s.topic.split('/')[2]).sort()).toEqual([...new Set(commanded)].sort())
    // In outbox order: each counter's counted events arrive by sequence number (a redelivery may repeat one).
    for (const id of members) {
      const seqs = seen.filter((s) => s.topic === `twins/counter/${id}/events/counted`).map((s) => s.seq!)
      expect(seqs.filter((seq, i) => seqs.indexOf(seq) === i)).toEqual([1, 2, 3, 4, 5])
    }
  }, 90_000)

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
