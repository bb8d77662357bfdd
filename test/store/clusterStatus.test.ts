import { afterEach, describe, expect, it } from 'vitest'
import { readClusterStatus } from '../../src/store/clusterStatus.ts'
import { waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'

let p: Pipeline | undefined
afterEach(async () => {
  await p?.stop()
  p = undefined
})

describe('cluster status (real Redis, a real worker)', () => {
  it('counts as lag only the input not applied yet, not the applied entries the approximate trim leaves in the inbox', async () => {
    p = await startPipeline({ shards: 1 })
    const k = p.keys.shard(0)
    // Input in several steps, so commits trim while the inbox grows past one stream node.
    for (let n = 0; n < 5; n++) {
      await Promise.all(Array.from({ length: 60 }, () => p!.inc('a')))
      await waitFor(`round ${n} applied`, async () => ((await p!.store.get('counter', 'a'))?.rev ?? 0) === 60 * (n + 1))
    }
    await waitFor('the checkpoint at the last entry', async () => {
      const [last] = await p!.redis.xrevrange(k.inbox, '+', '-', 'COUNT', 1)
      return last?.[0] === (await p!.redis.hget(k.meta, 'cp'))
    })
    expect(await p.redis.xlen(k.inbox)).toBeGreaterThan(1)
    expect((await readClusterStatus(p.redis, p.keys, p.shards, 5000)).shards[0]!.lag).toBe(0)
    // With the worker stopped, each entry that comes in is lag.
    await p.worker.stop()
    for (let n = 0; n < 7; n++) await p.inc('a')
    expect((await readClusterStatus(p.redis, p.keys, p.shards, 5000)).shards[0]!.lag).toBe(7)
  })
})
