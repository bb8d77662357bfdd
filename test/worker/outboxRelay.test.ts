import mqtt, { type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/embedded/broker.ts'
import { shardOf, twinKey } from '../../src/model/ids.ts'
import { OutboxRelay } from '../../src/worker/outboxRelay.ts'
import { silentLog, waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'

let p: Pipeline
let broker: EmbeddedBroker
const clients: MqttClient[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true)
  await broker?.close()
  await p?.stop()
})

async function client(): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`)
  clients.push(c)
  return c
}

describe('OutboxRelay', () => {
  it('publishes each derived event to twins/{type}/{id}/events/{name} once, and a new relay resumes from the mark', async () => {
    p = await startPipeline()
    broker = await startEmbeddedBroker({ port: 0 })
    const listener = await client()
    const seen: Array<{ topic: string; id: string; seq: number }> = []
    listener.on('message', (topic, payload) => {
      const e = JSON.parse(payload.toString()) as { id: string; data: { seq: number } }
      seen.push({ topic, id: e.id, seq: e.data.seq })
    })
    await listener.subscribeAsync('twins/#', { qos: 1 })
    const shard = shardOf(twinKey('counter', 'r1'), p.shards)

    for (let seq = 1; seq <= 3; seq++) await p.ingestor.fromApi('counter', 'r1', 'inc', JSON.stringify({ seq }))
    await waitFor('3 committed', async () => (await p.store.get('counter', 'r1'))?.rev === 3)
    const first = new OutboxRelay(p.redis, p.keys, await client(), silentLog, { shards: p.shards, outboxMaxLen: 1000 })
    first.notify(shard)
    await waitFor('3 relayed', () => seen.length === 3)
    await first.stop()
    expect(seen.map((s) => [s.topic, s.seq])).toEqual([1, 2, 3].map((seq) => ['twins/counter/r1/events/counted', seq]))
    expect(await p.redis.hget(p.keys.shard(shard).meta, 'relayed')).toBeTruthy()

    // Another process takes over: it starts after what was already relayed.
    for (let seq = 4; seq <= 5; seq++) await p.ingestor.fromApi('counter', 'r1', 'inc', JSON.stringify({ seq }))
    await waitFor('5 committed', async () => (await p.store.get('counter', 'r1'))?.rev === 5)
    const second = new OutboxRelay(p.redis, p.keys, await client(), silentLog, { shards: p.shards, outboxMaxLen: 1000 })
    second.resume(shard)
    await waitFor('5 relayed', () => seen.length === 5)
    await new Promise((r) => setTimeout(r, 200))
    await second.stop()
    expect(seen.map((s) => s.seq)).toEqual([1, 2, 3, 4, 5])
    expect(new Set(seen.map((s) => s.id)).size).toBe(5)
  })
})

describe('markRelayed (the relay mark and outbox retention)', () => {
  it('never trims what is not relayed, trims what is relayed beyond retention, and never moves the mark back', async () => {
    p = await startPipeline()
    const k = p.keys.shard(0)
    const ids: string[] = []
    for (let i = 0; i < 1000; i++) ids.push(await p.redis.xadd(k.outbox, '*', 'id', `e${i}`, 'k', 'counter/x', 'n', 'counted', 'd', '{}', 'at', '0') as string)

    // Relayed up to entry 100 of 1000, retention 10: only what is relayed may go, however far over retention.
    expect(await p.redis.markRelayed(k.outbox, k.meta, ids[100]!, 10)).toBe(1)
    const left = await p.redis.xrange(k.outbox, '-', '+')
    expect(left[0]![0]).toBe(ids[100])
    expect(left).toHaveLength(900)

    // A relay that lost the shard and finishes late cannot move the mark back (nor trim).
    expect(await p.redis.markRelayed(k.outbox, k.meta, ids[50]!, 10)).toBe(0)
    expect(await p.redis.hget(k.meta, 'relayed')).toBe(ids[100])

    // Everything relayed: trimmed to about the retention, newest kept.
    expect(await p.redis.markRelayed(k.outbox, k.meta, ids[999]!, 10)).toBe(1)
    const tail = await p.redis.xrange(k.outbox, '-', '+')
    expect(tail.length).toBeLessThanOrEqual(10)
    expect(tail.at(-1)![0]).toBe(ids[999])
  })
})
