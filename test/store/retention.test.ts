import { afterEach, describe, expect, it } from 'vitest'
import { VirtualClock } from '../../src/clock.ts'
import { shardRange } from '../../src/model/ids.ts'
import { readClusterStatus } from '../../src/store/clusterStatus.ts'
import { inboxFields } from '../../src/store/inboxStream.ts'
import type { ShardKeys } from '../../src/store/keys.ts'
import { moveApplied, readRetainedInput, readSnapshots, retainedBytes, setInputRetention } from '../../src/store/retention.ts'
import { META } from '../../src/store/shardMeta.ts'
import { RetentionKeeper } from '../../src/worker/retentionKeeper.ts'
import { dropPrefix, freshRedis, silentLog, waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'

/** Input retention for what-if replay (ADR 0012) on a real Redis: the move, the generations, the bounds of time and bytes. */

let p: Pipeline | undefined
let cleanup: (() => Promise<void>) | undefined
afterEach(async () => {
  await p?.stop()
  p = undefined
  await cleanup?.()
  cleanup = undefined
})

const HOUR = 3_600_000
const count = (t: { context: unknown } | null) => (t?.context as { count?: number } | undefined)?.count
const total = async (pl: Pipeline, key: (k: ShardKeys) => string) => (await Promise.all(shardRange(pl.shards).map((s) => pl.redis.xlen(key(pl.keys.shard(s)))))).reduce((a, b) => a + b, 0)

describe('input retention (real Redis, a real worker)', () => {
  it('moves every applied input to the retained stream, same ids and fields; the inbox keeps only its checkpoint entry and the lag stays 0', async () => {
    p = await startPipeline({ shards: 4, retention: { retainMs: HOUR, maxBytes: 64 * 1024 * 1024, snapshotMs: HOUR } })
    // Input before a shard's first snapshot cannot be replayed, and is not kept: wait for them (taken as the worker starts).
    await waitFor('first snapshots', async () => (await Promise.all(shardRange(p!.shards).map((s) => readSnapshots(p!.redis, p!.keys.shard(s))))).every((r) => r.snapshots.length === 1))
    const ids: string[] = []
    for (let seq = 1; seq <= 50; seq++) for (const c of ['a', 'b', 'c']) ids.push(((await p.inc(c)) as { entryId: string }).entryId)
    await waitFor('150 applied', async () => count(await p!.store.get('counter', 'c')) === 50)
    await waitFor('all retained', async () => (await total(p!, (k) => k.retained)) === 150)
    const retained: string[] = []
    for (const s of shardRange(p.shards)) await readRetainedInput(p.redis, p.keys.shard(s), '0-0', (page) => retained.push(...page.map((e) => e.id)))
    expect(retained.sort()).toEqual([...ids].sort())
    const status = await readClusterStatus(p.redis, p.keys, p.shards, 5000)
    expect(status.shards.map((s) => s.lag)).toEqual([0, 0, 0, 0])
    // One checkpoint entry per shard that had input, as without retention.
    const inboxes = await Promise.all(shardRange(p.shards).map((s) => p!.redis.xlen(p!.keys.shard(s).inbox)))
    expect(inboxes.every((n) => n <= 1)).toBe(true)
  })

  it('keeps retaining across a hand-over to another worker: same generation, no input missing', async () => {
    p = await startPipeline({ shards: 2, retention: { retainMs: HOUR, maxBytes: 64 * 1024 * 1024, snapshotMs: HOUR } })
    await waitFor('first snapshots', async () => (await Promise.all(shardRange(p!.shards).map((s) => readSnapshots(p!.redis, p!.keys.shard(s))))).every((r) => r.snapshots.length === 1))
    const generations = await Promise.all(shardRange(p.shards).map((s) => p!.redis.hget(p!.keys.shard(s).meta, META.retention)))
    const ids: string[] = []
    for (let seq = 1; seq <= 30; seq++) ids.push(((await p.inc(`h${seq % 5}`)) as { entryId: string }).entryId)
    await waitFor('first half applied', async () => (await total(p!, (k) => k.retained)) === 30)
    await p.worker.stop()
    for (let seq = 31; seq <= 60; seq++) ids.push(((await p.inc(`h${seq % 5}`)) as { entryId: string }).entryId)
    await p.newWorker()
    await waitFor('all retained', async () => (await total(p!, (k) => k.retained)) === 60)
    const retained: string[] = []
    for (const s of shardRange(p.shards)) await readRetainedInput(p.redis, p.keys.shard(s), '0-0', (page) => retained.push(...page.map((e) => e.id)))
    expect(retained.sort()).toEqual([...ids].sort())
    expect(await Promise.all(shardRange(p.shards).map((s) => p!.redis.hget(p!.keys.shard(s).meta, META.retention)))).toEqual(generations)
  })

  it('off: the commit trims the inbox and nothing is retained; turning it off drops what was retained', async () => {
    p = await startPipeline({ shards: 2 })
    for (let seq = 1; seq <= 20; seq++) await p.inc('a')
    await waitFor('applied', async () => count(await p!.store.get('counter', 'a')) === 20)
    expect(await total(p, (k) => k.retained)).toBe(0)
    const k = p.keys.shard(0)
    await p.redis.xadd(k.retained, '1-1', 'x', '1')
    await p.redis.zadd(k.snapshots, 1, '1|0-0|1')
    await p.redis.hset(k.snapshot(1), 'counter/a', '{}')
    await p.redis.hset(k.meta, META.retention, '1')
    await setInputRetention(p.redis, k, false, Date.now())
    expect(await p.redis.exists(k.retained, k.snapshots, k.snapshot(1))).toBe(0)
    expect(await p.redis.hexists(k.meta, META.retention)).toBe(0)
  })

  it('a gap (input trimmed by a commit that did not retain) starts a new generation: older snapshots are not replayed across it', async () => {
    const { redis, keys, prefix } = freshRedis()
    cleanup = async () => {
      await dropPrefix(redis, prefix)
      await redis.quit()
    }
    const k = keys.shard(0)
    const add = (ms: number) => redis.xadd(k.inbox, `${ms}-0`, ...inboxFields({ type: 'counter', twinId: 'a', event: 'inc', payload: '{"seq":1}' }))
    for (const ms of [1, 2, 3]) await add(ms)
    expect(await setInputRetention(redis, k, true, 100)).toBe('100')
    await redis.hset(k.meta, META.checkpoint, '2-0')
    expect(await moveApplied(redis, k, 200)).toEqual({ moved: 2, generation: '100' })
    expect(await redis.xlen(k.inbox)).toBe(2) // the checkpoint entry and the unapplied one
    await redis.hset(k.meta, META.checkpoint, '3-0')
    expect(await moveApplied(redis, k, 200)).toEqual({ moved: 1, generation: '100' })
    // An owner without retention applies 4 and 5 and trims them away.
    for (const ms of [4, 5, 6]) await add(ms)
    await redis.hset(k.meta, META.checkpoint, '5-0')
    await redis.xtrim(k.inbox, 'MINID', '5-0')
    const moved = await moveApplied(redis, k, 300)
    expect(moved.generation).toBe('300')
    expect((await redis.xrange(k.retained, '-', '+')).map(([id]) => id)).toEqual(['5-0'])
    expect(await redis.hget(k.meta, META.retention)).toBe('300')
  })

  it('keeps snapshots and input for the window and no longer: the newest snapshot at or before it is the oldest kept', async () => {
    p = await startPipeline({ shards: 1, retention: { retainMs: HOUR, maxBytes: 64 * 1024 * 1024, snapshotMs: HOUR } })
    const clock = new VirtualClock(Date.now() + 10 * HOUR)
    const keeper = new RetentionKeeper({ redis: p.redis, keys: p.keys, clock, log: silentLog, bounds: { retainMs: 3000, maxBytes: 64 * 1024 * 1024, snapshotMs: 1000 }, owned: () => [0] })
    const k = p.keys.shard(0)
    // Ten seconds of virtual time: a snapshot each second, ten inputs between two.
    for (let s = 0; s < 10; s++) {
      await keeper.pass()
      for (let i = 0; i < 10; i++) await p.inc('a')
      // All ten applied and moved: the inbox keeps only the checkpoint entry, and the last entry moved is it.
      await waitFor('applied and moved', async () => (await p!.redis.xlen(k.inbox)) === 1 && (await p!.redis.hget(k.meta, META.retainedLast)) === (await p!.redis.hget(k.meta, META.checkpoint)))
      clock.advance(1000)
    }
    const [kept] = await keeper.pass()
    const { snapshots } = await readSnapshots(p.redis, k)
    const now = clock.now()
    // The oldest kept is the newest at or before now - 3 s; every other is inside the window.
    expect(snapshots[0]!.at).toBe(now - 3000)
    expect(snapshots.slice(1).every((s) => s.at > now - 3000)).toBe(true)
    expect(kept!.dropped).toBeGreaterThan(0)
    // Input before the oldest snapshot's checkpoint is gone; what follows it is all there.
    const first = (await p.redis.xrange(k.retained, '-', '+', 'COUNT', 1))[0]![0]
    expect(first).toBe(snapshots[0]!.checkpoint)
    expect(await p.redis.xlen(k.retained)).toBe(31)
  })

  it('keeps retained input and snapshots within the memory bound: the oldest go first, then a fresh snapshot replaces the rest', async () => {
    p = await startPipeline({ shards: 1, retention: { retainMs: HOUR, maxBytes: 64 * 1024 * 1024, snapshotMs: HOUR } })
    const clock = new VirtualClock(Date.now() + 10 * HOUR)
    const maxBytes = 40_000
    const bounds = { retainMs: 100 * HOUR, maxBytes: 64 * 1024 * 1024, snapshotMs: 1000 }
    const roomy = new RetentionKeeper({ redis: p.redis, keys: p.keys, clock, log: silentLog, bounds, owned: () => [0] })
    const keeper = new RetentionKeeper({ redis: p.redis, keys: p.keys, clock, log: silentLog, bounds: { ...bounds, maxBytes }, owned: () => [0] })
    const k = p.keys.shard(0)
    for (let s = 0; s < 4; s++) {
      await roomy.pass()
      for (let i = 0; i < 200; i++) await p.ingestor.fromApi('counter', `c${i % 20}`, 'inc', JSON.stringify({ seq: s * 10 + Math.floor(i / 20) + 1 }))
      // All ten applied and moved: the inbox keeps only the checkpoint entry, and the last entry moved is it.
      await waitFor('applied and moved', async () => (await p!.redis.xlen(k.inbox)) === 1 && (await p!.redis.hget(k.meta, META.retainedLast)) === (await p!.redis.hget(k.meta, META.checkpoint)))
      clock.advance(1000)
    }
    const before = await readSnapshots(p.redis, k)
    const bytesBefore = await retainedBytes(p.redis, k, before.snapshots)
    const [kept] = await keeper.pass()
    const after = await readSnapshots(p.redis, k)
    const usage = await retainedBytes(p.redis, k, after.snapshots)
    // The auto keeper's snapshot at start, and one per virtual second.
    expect(before.snapshots.length).toBe(5)
    expect(bytesBefore.input + bytesBefore.snapshots.reduce((a, b) => a + b, 0)).toBeGreaterThan(maxBytes)
    expect(kept!.dropped).toBeGreaterThan(0)
    expect(usage.input + usage.snapshots.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(maxBytes)
    expect(kept!.bytes).toBeLessThanOrEqual(maxBytes)
    // What is kept can still be replayed: input from the oldest snapshot on.
    const first = (await p.redis.xrange(k.retained, '-', '+', 'COUNT', 1))[0]?.[0]
    if (first) expect(first >= after.snapshots[0]!.checkpoint || after.snapshots[0]!.checkpoint === '0-0').toBe(true)
  })
})
