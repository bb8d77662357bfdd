import { afterEach, describe, expect, it } from 'vitest'
import { IngestGate, WriteCancelled } from '../../src/ingest/backpressure.ts'
import { Ingestor } from '../../src/ingest/ingestor.ts'
import { RedisHealth } from '../../src/store/redisHealth.ts'
import { ensureShardCount } from '../../src/store/clusterMeta.ts'
import { connectRedis, type RedisClient } from '../../src/store/redis.ts'
import { dropPrefix, fixtureRegistry, freePort, freshRedis, silentLog, waitFor } from '../support/env.ts'

/** The ingest gate (ADR 0042) on the real Redis: what waits, what is refused at once, what is dropped. */
const cleanups: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f()
})

const payload = (seq: number) => Buffer.from(JSON.stringify({ seq }))

async function setup(o: { redisAway?: boolean; inboxMaxLength?: number } = {}) {
  const { redis, keys, prefix } = freshRedis()
  cleanups.push(async () => { await dropPrefix(redis, prefix); await redis.quit() })
  const shards = await ensureShardCount(redis, keys, 1)
  // Redis as this process sees it: the real one, or one on a port nobody listens on.
  let watched: RedisClient = redis
  if (o.redisAway) {
    watched = connectRedis(`redis://127.0.0.1:${await freePort()}`, 'away')
    watched.on('error', () => undefined)
    cleanups.push(() => watched.disconnect())
  }
  const health = new RedisHealth({ redis: watched, probeKey: keys.healthProbe('t'), log: silentLog, intervalMs: 50 })
  await health.start()
  cleanups.push(() => health.stop())
  const gate = new IngestGate({ health, redis, keys, shards, inboxMaxLength: o.inboxMaxLength ?? 0, log: silentLog, intervalMs: 50 })
  gate.start()
  cleanups.push(() => gate.stop())
  const ingestor = new Ingestor({ redis, keys, registry: await fixtureRegistry(), shards, maxPayloadBytes: 4096, deadLetterMaxLen: 100, log: silentLog, gate, health })
  return { redis, keys, gate, health, ingestor, inboxLength: () => redis.xlen(keys.shard(0).inbox) }
}

describe('IngestGate', () => {
  it('while Redis is away: MQTT writes wait, HTTP writes are refused at once, a write whose connection closed is dropped', async () => {
    const t = await setup({ redisAway: true })
    expect(t.health.condition.status).toBe('down')
    const gone = new AbortController()
    const kept = t.ingestor.fromMqtt('devices/counter/g1/inc', payload(1))
    const dropped = t.ingestor.fromMqtt('devices/counter/g2/inc', payload(1), gone.signal).then(() => 'written', (err: unknown) => err)
    await waitFor('both held', () => t.gate.stats.held === 2)
    const refused = await t.ingestor.fromApi('counter', 'g3', 'inc', payload(1)).catch((err) => err)
    expect(refused.code).toBe('TWIN_ERR_REDIS_UNAVAILABLE')
    gone.abort()
    // Stopping the gate lets the waiters go, as Redis coming back would.
    t.gate.stop()
    await kept
    expect(await dropped).toBeInstanceOf(WriteCancelled)
    expect(await t.inboxLength()).toBe(1)
  })

  it('an inbox over INBOX_MAX_LENGTH holds MQTT writes for that shard until it drains; HTTP gets TWIN_ERR_INBOX_FULL', async () => {
    const t = await setup({ inboxMaxLength: 5 })
    for (let seq = 1; seq <= 8; seq++) await t.ingestor.fromMqtt('devices/counter/f1/inc', payload(seq))
    await waitFor('the shard marked full', () => t.gate.stats.fullShards.length === 1)
    const refused = await t.ingestor.fromApi('counter', 'f1', 'inc', payload(9)).catch((err) => err)
    expect(refused.code).toBe('TWIN_ERR_INBOX_FULL')
    let written = false
    const held = t.ingestor.fromMqtt('devices/counter/f1/inc', payload(9)).then(() => (written = true))
    await new Promise((r) => setTimeout(r, 200))
    expect(written).toBe(false)
    expect(await t.inboxLength()).toBe(8)
    // The workers catch up: below 90 % of the bound it opens again.
    await t.redis.xtrim(t.keys.shard(0).inbox, 'MAXLEN', 2)
    await held
    expect(await t.inboxLength()).toBe(3)
    expect(t.gate.stats.fullShards).toEqual([])
  })
})
