import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { ShardLeases, type LeaseEvents } from '../../src/cluster/shardLeases.ts'
import { dropPrefix, freshRedis, silentLog, waitFor } from '../support/env.ts'

const fresh = freshRedis()
afterEach(async () => dropPrefix(fresh.redis, fresh.prefix))
afterAll(async () => fresh.redis.quit())

function recorder(overrides: Partial<LeaseEvents> = {}) {
  const owned = new Map<number, number>()
  const events: LeaseEvents = {
    acquired: (shard, epoch) => void owned.set(shard, epoch),
    lost: (shard) => void owned.delete(shard),
    release: async (shards) => shards.forEach((shard) => owned.delete(shard)),
    ...overrides,
  }
  return { owned, events }
}

describe('ShardLeases', () => {
  it('splits the shards between two workers with growing epochs, and hands them all over when one leaves', async () => {
    const a = recorder()
    const b = recorder()
    const la = new ShardLeases(fresh.redis, fresh.keys, { workerId: 'wa', shards: 8, ttlMs: 900, log: silentLog }, a.events)
    const lb = new ShardLeases(fresh.redis, fresh.keys, { workerId: 'wb', shards: 8, ttlMs: 900, log: silentLog }, b.events)
    await la.start()
    await waitFor('wa owns every shard', () => a.owned.size === 8)
    expect([...a.owned.values()].every((e) => e === 1)).toBe(true)
    await lb.start()
    await waitFor('split', () => a.owned.size > 0 && b.owned.size > 0 && a.owned.size + b.owned.size === 8)
    // A shard handed over is taken under a new epoch.
    expect([...b.owned.values()].every((e) => e === 2)).toBe(true)
    await la.stop()
    await waitFor('wb owns every shard', () => b.owned.size === 8)
    await lb.stop()
    expect(await fresh.redis.zcard(fresh.keys.workers)).toBe(0)
  })

  it('holds a shard only once the worker has taken it, and retries a failed take-over next round', async () => {
    let failures = 2
    const r = recorder({
      acquired: async (shard, epoch) => {
        if (shard === 0 && failures-- > 0) throw new Error('Redis blip')
        r.owned.set(shard, epoch)
      },
    })
    const leases = new ShardLeases(fresh.redis, fresh.keys, { workerId: 'wc', shards: 2, ttlMs: 600, log: silentLog }, r.events)
    await leases.start()
    expect(leases.epochOf(0)).toBeUndefined()
    expect(leases.epochOf(1)).toBe(1)
    await waitFor('shard 0 taken after the blips', () => leases.epochOf(0) === 1)
    expect(r.owned.get(0)).toBe(1)
    await leases.stop()
  })
})
