import { afterEach, describe, expect, it } from 'vitest'
import { Drivers } from '../../src/core/drivers.ts'
import { ChangeBus } from '../../src/feed/changeBus.ts'
import { startWorkerRole, type WorkerRole } from '../../src/roles/workerRole.ts'
import { silentLog, waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'

/**
 * A worker that finds a large backlog in many shards at once commits it in
 * bounded script calls: a step of full batches on every shard has far more
 * arguments than one call (or one JavaScript call stack) takes.
 */

let p: Pipeline | undefined
let role: WorkerRole | undefined
afterEach(async () => {
  await role?.stop()
  role = undefined
  await p?.stop()
  p = undefined
})

describe('a step over a large backlog', () => {
  it('applies 40,000 queued events from 8 full shard batches of 5,000, once each', async () => {
    p = await startPipeline({ shards: 8 })
    await p.worker.stop()
    const counters = 400
    const perCounter = 100
    for (let seq = 1; seq <= perCounter; seq++) {
      await Promise.all(Array.from({ length: counters }, (_, c) => p!.ingestor.fromApi('counter', `c${c}`, 'inc', JSON.stringify({ seq }))))
    }
    role = await startWorkerRole({
      redis: p.redis, keys: p.keys, drivers: new Drivers(p.registry), bus: new ChangeBus(), clock: { now: () => Date.now() }, log: silentLog, shards: p.shards,
      settings: { batchSize: 5000, batchLingerMs: 2, cacheSize: 10_000, leaseTtlMs: 5000, historyLength: 10, deadLetterMaxLen: 1000, outboxMaxLen: 100_000, webhookConcurrency: 1 },
    })
    await waitFor('every event applied', () => role!.worker.stats.applied === counters * perCounter, 60_000)
    expect(role.worker.stats.commitsRefused).toBe(0)
    for (const c of [0, 199, 399]) expect((await p.store.get('counter', `c${c}`))?.context).toMatchObject({ count: perCounter, lastSeq: perCounter, dupes: 0, gaps: 0 })
  }, 90_000)
})
