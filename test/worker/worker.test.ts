import { afterEach, describe, expect, it } from 'vitest'
import { twinKey, shardOf } from '../../src/model/ids.ts'
import { listDeadLetters } from '../../src/store/deadLetters.ts'
import { waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'

let p: Pipeline
afterEach(async () => p?.stop())

const inc = (id: string, seq: number) => p.ingestor.fromApi('counter', id, 'inc', JSON.stringify({ seq }))

describe('worker: inbox -> twins -> atomic commit', () => {
  it('applies every event once, in order, with a revision per change', async () => {
    p = await startPipeline()
    for (let seq = 1; seq <= 200; seq++) await Promise.all([inc('a', seq), inc('b', seq)])
    const a = await waitFor('200 events on counter/a', async () => {
      const t = await p.store.get('counter', 'a')
      return t && t.rev === 200 ? t : null
    })
    expect(a.context).toMatchObject({ count: 200, lastSeq: 200, gaps: 0, dupes: 0 })
    expect(a.value).toBe('counting')
    const b = await p.store.get('counter', 'b')
    expect(b?.context).toMatchObject({ count: 200, gaps: 0, dupes: 0 })
    // Change notices carry each revision once, in order.
    const revs = p.changes.filter((c) => c.id === 'a').map((c) => c.rev)
    expect(revs).toEqual(Array.from({ length: 200 }, (_, i) => i + 1))
  })

  it('writes derived events to the outbox with stable, unique ids', async () => {
    p = await startPipeline()
    for (let seq = 1; seq <= 5; seq++) await inc('d', seq)
    await waitFor('5 derived events', () => p.derived.length === 5)
    expect(p.derived.map((d) => d.data.seq)).toEqual([1, 2, 3, 4, 5])
    expect(new Set(p.derived.map((d) => d.id)).size).toBe(5)
    const shard = shardOf(twinKey('counter', 'd'), p.shards)
    const outbox = await p.redis.xrange(p.keys.shard(shard).outbox, '-', '+')
    expect(outbox.map(([, f]) => f[f.indexOf('id') + 1])).toEqual(p.derived.map((d) => d.id))
  })

  it('dead-letters an event the machine does not accept, and keeps the twin', async () => {
    p = await startPipeline()
    await inc('l', 1)
    await p.ingestor.fromApi('counter', 'l', 'lock', '{}')
    await inc('l', 2)
    const dead = await waitFor('a dead letter', async () => (await listDeadLetters(p.redis, p.keys, p.shards, 10))[0])
    expect(dead).toMatchObject({ code: 'TWIN_ERR_EVENT_NOT_ACCEPTED', src: 'worker', twin: 'counter/l', event: 'inc', payload: '{"seq":2}' })
    expect(dead.reason).toContain('"locked"')
    const twin = await p.store.get('counter', 'l')
    expect(twin).toMatchObject({ value: 'locked', rev: 2, context: { count: 1 } })
  })

  it('passivates twins beyond the cache size and reloads them from Redis', async () => {
    p = await startPipeline({ cacheSize: 3 })
    const ids = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']
    for (let seq = 1; seq <= 4; seq++) for (const id of ids) await inc(id, seq)
    for (const id of ids) {
      await waitFor(`${id} at rev 4`, async () => (await p.store.get('counter', id))?.rev === 4)
      expect((await p.store.get('counter', id))?.context).toMatchObject({ count: 4, gaps: 0, dupes: 0 })
    }
    expect(p.worker.cache.size).toBeLessThanOrEqual(3)
    expect(p.worker.cache.evictions).toBeGreaterThan(0)
  })

  it('fires durable timers after a restart, from Redis, exactly once', async () => {
    p = await startPipeline({ leaseTtlMs: 1000 })
    await p.ingestor.fromApi('counter', 't', 'arm', JSON.stringify({ ms: 1500 }))
    await waitFor('timer armed', async () => (await p.store.get('counter', 't'))?.rev === 1)
    await p.worker.stop() // releases the leases; the timer lives only in Redis now
    const shard = shardOf(twinKey('counter', 't'), p.shards)
    expect(await p.redis.zcard(p.keys.shard(shard).timers)).toBe(1)
    const second = await p.newWorker()
    const rung = await waitFor('timer fired', async () => {
      const t = await p.store.get('counter', 't')
      return t && (t.context as { rings: number }).rings > 0 ? t : null
    })
    expect(rung.context).toMatchObject({ rings: 1 })
    expect(await p.redis.zcard(p.keys.shard(shard).timers)).toBe(0)
    await new Promise((r) => setTimeout(r, 300))
    expect((await p.store.get('counter', 't'))?.context).toMatchObject({ rings: 1 })
  })

  it('cancels a timer durably', async () => {
    p = await startPipeline()
    await p.ingestor.fromApi('counter', 'c', 'arm', JSON.stringify({ ms: 300 }))
    await p.ingestor.fromApi('counter', 'c', 'disarm', '{}')
    await waitFor('disarmed', async () => (await p.store.get('counter', 'c'))?.rev === 2)
    const shard = shardOf(twinKey('counter', 'c'), p.shards)
    expect(await p.redis.zcard(p.keys.shard(shard).timers)).toBe(0)
    await new Promise((r) => setTimeout(r, 500))
    expect((await p.store.get('counter', 'c'))?.context).toMatchObject({ rings: 0 })
  })

  it('refuses a commit with a stale epoch (fencing) and resumes from the checkpoint', async () => {
    p = await startPipeline({ leaseTtlMs: 600 })
    await inc('f', 1)
    await waitFor('first event', async () => (await p.store.get('counter', 'f'))?.rev === 1)
    const shard = shardOf(twinKey('counter', 'f'), p.shards)
    // Another owner took the shard meanwhile: its epoch is newer than ours.
    await p.redis.incr(p.keys.shard(shard).epoch)
    await inc('f', 2)
    await waitFor('refused commit', () => p.worker.stats.commitsRefused > 0)
    // Our lease renewal sees the new epoch, re-acquires, and replays from the checkpoint: applied once.
    const twin = await waitFor('second event', async () => {
      const t = await p.store.get('counter', 'f')
      return t?.rev === 2 ? t : null
    })
    expect(twin.context).toMatchObject({ count: 2, lastSeq: 2, dupes: 0 })
  })

  it('dead-letters input for a stored twin its definition can no longer restore, and keeps the shard going', async () => {
    p = await startPipeline()
    const shard = shardOf(twinKey('counter', 'old'), p.shards)
    // A record of this version in a state the definition does not have (changed without a version bump).
    await p.redis.hset(p.keys.shard(shard).twins, 'counter/old', JSON.stringify({ v: 'retired', c: {}, r: 7, u: 0, t: {}, d: 1 }))
    await inc('old', 1)
    await inc('fine', 1)
    const dead = await waitFor('a dead letter', async () => (await listDeadLetters(p.redis, p.keys, p.shards, 10))[0])
    expect(dead).toMatchObject({ code: 'TWIN_ERR_DEFINITION', twin: 'counter/old', event: 'inc', src: 'worker' })
    expect(dead.reason).toContain('cannot be restored')
    await waitFor('other twins still applied', async () => (await p.store.get('counter', 'fine'))?.rev === 1)
    expect((await p.store.get('counter', 'old'))?.rev).toBe(7)
  })
})
