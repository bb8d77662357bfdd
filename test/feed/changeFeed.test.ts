import { afterEach, describe, expect, it } from 'vitest'
import { ChangeBus } from '../../src/feed/changeBus.ts'
import { subscribeChangeFeed } from '../../src/feed/changeFeed.ts'
import type { TwinView } from '../../src/model/record.ts'
import { startWorkerRole, type WorkerRole } from '../../src/roles/workerRole.ts'
import { Drivers } from '../../src/core/drivers.ts'
import { duplicateRedis, type RedisClient } from '../../src/store/redis.ts'
import { redisCluster, silentLog, waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'

/**
 * The change feed carries a worker's notices to API processes elsewhere, and
 * only while one listens: a process with every role publishes nothing.
 */

let p: Pipeline | undefined
let role: WorkerRole | undefined
const closers: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of closers.splice(0)) await c()
  await role?.stop()
  role = undefined
  await p?.stop()
  p = undefined
})

/** Everything published on the feed, seen through a pattern subscription (which NUMSUB does not count). */
async function observe(redis: RedisClient, channel: string): Promise<string[]> {
  const seen: string[] = []
  const sub = duplicateRedis(redis, 'feed-observer')
  sub.on('pmessage', (_pattern: string, _channel: string, message: string) => seen.push(message))
  await sub.psubscribe(channel)
  closers.push(() => sub.quit())
  return seen
}

describe('change feed', () => {
  it.skipIf(redisCluster())('publishes nothing while only this process listens, and every step once an API process elsewhere subscribes', async () => {
    p = await startPipeline()
    // The pipeline's own worker does not publish on the feed: stop it, and run one that does, with a local API subscribed.
    await p.worker.stop()
    const local = new ChangeBus()
    role = await startWorkerRole({
      redis: p.redis, keys: p.keys, drivers: new Drivers(p.registry), bus: local, clock: { now: () => Date.now() }, log: silentLog, shards: p.shards, feed: true,
      settings: { batchSize: 500, batchLingerMs: 2, cacheSize: 1000, leaseTtlMs: 2000, historyLength: 10, deadLetterMaxLen: 1000, outboxMaxLen: 10_000, webhookConcurrency: 1 },
    })
    closers.push(await subscribeChangeFeed({ redis: p.redis, keys: p.keys, bus: local, localWorkerId: role.worker.id, log: silentLog }))
    const published = await observe(p.redis, p.keys.changes)
    await p.inc('a')
    await waitFor('applied', () => role!.worker.stats.applied === 1)
    await new Promise((r) => setTimeout(r, 600))
    expect(published).toEqual([])

    // An API process elsewhere: its own bus, its own subscription.
    const remote = new ChangeBus()
    const seen: TwinView[] = []
    remote.onChange((v) => seen.push(v))
    closers.push(await subscribeChangeFeed({ redis: p.redis, keys: p.keys, bus: remote, log: silentLog }))
    await p.inc('a')
    await waitFor('the remote API got the change', () => seen.length === 1)
    expect(seen[0]).toMatchObject({ type: 'counter', id: 'a', rev: 2 })
    expect(published.length).toBe(1)
  })
})
