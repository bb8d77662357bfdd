import mqtt, { type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/embedded/broker.ts'
import { shardOf, twinKey } from '../../src/model/ids.ts'
import type { DerivedEvent } from '../../src/model/record.ts'
import { META, moveRelayMark, readRelayMark, type RelayMark } from '../../src/store/shardMeta.ts'
import { OutboxRelay } from '../../src/worker/outboxRelay.ts'
import { freePort, silentLog, waitFor } from '../support/env.ts'
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

describe('OutboxRelay lanes (ADR 0045)', () => {
  it('while the broker is away, rule feeds, commands to twins and the sinks go on; every derived event and command reaches MQTT once it is back', async () => {
    p = await startPipeline()
    const port = await freePort()
    broker = await startEmbeddedBroker({ port })
    const url = `mqtt://127.0.0.1:${port}`
    const sunk: DerivedEvent[] = []
    const publisher = await mqtt.connectAsync(url, { reconnectPeriod: 100 })
    clients.push(publisher)
    const relay = new OutboxRelay(p.redis, p.keys, publisher, silentLog, {
      shards: p.shards, outboxMaxLen: 1000, sinks: [async (events) => void sunk.push(...events)],
    })
    // The worker role wakes the relay on each commit; here, a tick.
    const tick = setInterval(() => { for (let s = 0; s < p.shards; s++) relay.notify(s) }, 50)
    try {
      for (const id of ['a1', 'a2']) await p.ingestor.fromApi('counter', id, 'attributes', JSON.stringify({ group: 'g1' }))
      await waitFor('both members at the rule', async () => Object.keys(((await p.store.get('counter-total', 'g1'))?.context as { counts?: object })?.counts ?? {}).length === 2)
      await broker.close()
      await waitFor('the relay saw the broker go', () => !publisher.connected)

      for (let seq = 1; seq <= 3; seq++) for (const id of ['a1', 'a2']) await p.ingestor.fromApi('counter', id, 'inc', JSON.stringify({ seq }))
      // More than one relay read (500 entries) waits in one shard for the broker: a counter in no group.
      const BULK = 1200
      await Promise.all(Array.from({ length: BULK }, (_, i) => p.ingestor.fromApi('counter', 'bulk', 'inc', JSON.stringify({ seq: i + 1 }))))
      // The rule took every feed and commanded a counter, whose twin holds the command pending: no broker needed.
      const rule = await waitFor('the rule fed through the outage', async () => {
        const r = await p.store.get('counter-total', 'g1')
        return (r?.context as { events: number }).events === 6 ? r : null
      })
      expect(rule.context).toMatchObject({ alerted: true, counts: { a1: 3, a2: 3 } })
      const target = await waitFor('the command pending on its twin', async () => {
        for (const id of ['a1', 'a2']) if ((await p.store.get('counter', id))?.commands?.slowDown?.status === 'pending') return id
        return null
      })
      await waitFor('the sinks got every derived event meanwhile', () =>
        new Set(sunk.filter((e) => e.name === 'counted').map((e) => e.id)).size === 6 + BULK && sunk.some((e) => e.name === 'limitReached'))
      const shards = [...new Set(['a1', 'a2', 'g1', 'bulk'].map((id) => shardOf(twinKey(id === 'g1' ? 'counter-total' : 'counter', id), p.shards)))]
      for (const s of shards) expect(await p.redis.hget(p.keys.shard(s).meta, META.relayed)).not.toBe(await p.redis.hget(p.keys.shard(s).meta, META.routed))

      // The broker returns: the listener is there before the relay reconnects (it retries every 100 ms).
      broker = await startEmbeddedBroker({ port })
      const listener = await client()
      const seen: Array<{ topic: string; id: string; seq?: number }> = []
      listener.on('message', (topic, payload) => {
        const body = JSON.parse(payload.toString()) as { id: string; data?: { seq?: number } }
        seen.push({ topic, id: body.id, seq: body.data?.seq })
      })
      await listener.subscribeAsync(['twins/#', 'devices/+/+/commands/#'], { qos: 1 })
      const counted = await waitFor('every counted event on MQTT', () => {
        const c = seen.filter((s) => s.topic.endsWith('/events/counted'))
        return new Set(c.map((s) => s.id)).size === 6 + BULK ? c : null
      }, 20_000)
      expect(counted.filter((s) => !s.topic.includes('/bulk/')).map((s) => s.topic).sort()).toEqual([...Array(3).fill('twins/counter/a1/events/counted'), ...Array(3).fill('twins/counter/a2/events/counted')])
      // In outbox order (a publish in flight at the disconnect may come twice).
      const bulk = counted.filter((s) => s.topic.includes('/bulk/')).map((s) => s.seq!)
      expect(bulk.filter((seq, i) => bulk.indexOf(seq) === i)).toEqual(Array.from({ length: BULK }, (_, i) => i + 1))
      await waitFor('the rule\'s derived event on MQTT', () => seen.some((s) => s.topic === 'twins/counter-total/g1/events/limitReached'))
      await waitFor('the command on the device topic', () => seen.some((s) => s.topic === `devices/counter/${target}/commands/slowDown`))
      await waitFor('both lanes at the same place again', async () => {
        for (const s of shards) {
          const [relayed, routed] = await p.redis.hmget(p.keys.shard(s).meta, META.relayed, META.routed)
          if (relayed !== routed) return false
        }
        return true
      })
    } finally {
      clearInterval(tick)
      await relay.stop()
    }
  })
})

describe('markRelayed (the relay lanes\' marks and outbox retention)', () => {
  /** Shard `shard`'s outbox with `n` derived events. */
  async function outboxOf(n: number, shard = 0) {
    const k = p.keys.shard(shard)
    const ids: string[] = []
    for (let i = 0; i < n; i++) ids.push(await p.redis.xadd(k.outbox, '*', 'id', `e${i}`, 'k', 'counter/x', 'n', 'counted', 'd', '{}', 'at', '0') as string)
    const move = (mark: RelayMark, i: number, keep: number) => moveRelayMark(p.redis, k, { mark, last: ids[i]!, keep })
    return { k, ids, move }
  }

  it('never trims what is not relayed, trims what is relayed beyond retention, and never moves the mark back', async () => {
    p = await startPipeline()
    const { k, ids, move } = await outboxOf(1000)
    expect(await move('routed', 999, 0)).toBe(true)

    // Relayed up to entry 100 of 1000, retention 10: only what is relayed may go, however far over retention.
    expect(await move('relayed', 100, 10)).toBe(true)
    const left = await p.redis.xrange(k.outbox, '-', '+')
    expect(left[0]![0]).toBe(ids[100])
    expect(left).toHaveLength(900)

    // A relay that lost the shard and finishes late cannot move the mark back (nor trim).
    expect(await move('relayed', 50, 10)).toBe(false)
    expect(await p.redis.hget(k.meta, META.relayed)).toBe(ids[100])

    // Everything relayed: trimmed to about the retention, newest kept.
    expect(await move('relayed', 999, 10)).toBe(true)
    const tail = await p.redis.xrange(k.outbox, '-', '+')
    expect(tail.length).toBeLessThanOrEqual(10)
    expect(tail.at(-1)![0]).toBe(ids[999])
  })

  it('trims to the older of the two lanes\' marks: a broker lane stuck in an outage keeps what it has not published', async () => {
    p = await startPipeline()
    const { k, ids, move } = await outboxOf(1000)
    // The routes lane is through, the broker lane is at 200: nothing after 200 goes.
    expect(await move('relayed', 200, 10)).toBe(true)
    expect(await move('routed', 999, 10)).toBe(true)
    expect((await p.redis.xrange(k.outbox, '-', '+', 'COUNT', 1))[0]![0]).toBe(ids[200])
    // And the other way round: the routes lane behind the broker lane holds the trim.
    expect(await move('routed', 500, 10)).toBe(false)
    const { ids: ids2, move: move2, k: k2 } = await outboxOf(1000, 1)
    expect(await move2('routed', 300, 10)).toBe(true)
    expect(await move2('relayed', 999, 10)).toBe(true)
    expect((await p.redis.xrange(k2.outbox, '-', '+', 'COUNT', 1))[0]![0]).toBe(ids2[300])
    // Each mark moves on its own, only forward.
    expect(await move2('routed', 200, 10)).toBe(false)
    expect(await p.redis.hmget(k2.meta, META.relayed, META.routed)).toEqual([ids2[999], ids2[300]])
  })

  it('a shard with only the single mark of before (no routes mark): the routes lane starts there, and nothing past it is trimmed', async () => {
    p = await startPipeline()
    const { k, ids, move } = await outboxOf(1000)
    await p.redis.hset(k.meta, META.relayed, ids[400]!)
    expect(await readRelayMark(p.redis, k.meta, 'routed')).toBe(ids[400])
    expect(await readRelayMark(p.redis, k.meta, 'relayed')).toBe(ids[400])
    expect(await move('relayed', 999, 10)).toBe(true)
    expect((await p.redis.xrange(k.outbox, '-', '+', 'COUNT', 1))[0]![0]).toBe(ids[400])
    expect(await p.redis.hget(k.meta, META.routed)).toBe(ids[400])
    // No mark at all: both lanes start from the beginning, and whichever lane moves first trims nothing.
    for (const [shard, first] of [[2, 'routed'], [3, 'relayed']] as const) {
      const fresh = p.keys.shard(shard)
      for (let i = 0; i < 300; i++) await p.redis.xadd(fresh.outbox, '*', 'id', `f${i}`, 'k', 'counter/x', 'n', 'counted', 'd', '{}', 'at', '0')
      const last = (await p.redis.xrevrange(fresh.outbox, '+', '-', 'COUNT', 1))[0]![0]
      expect(await moveRelayMark(p.redis, fresh, { mark: first, last, keep: 10 })).toBe(true)
      expect(await p.redis.xlen(fresh.outbox)).toBe(300)
      const other = first === 'routed' ? 'relayed' : 'routed'
      const from = await readRelayMark(p.redis, fresh.meta, other)
      expect(await p.redis.xrange(fresh.outbox, from ? `(${from}` : '-', '+')).toHaveLength(300)
    }
  })
})
