import { afterEach, describe, expect, it } from 'vitest'
import { readClusterStatus } from '../../src/store/clusterStatus.ts'
import type { Worker } from '../../src/worker/worker.ts'
import { waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'

let p: Pipeline
afterEach(async () => p?.stop())

const inc = (id: string, seq: number) => p.ingestor.fromApi('counter', id, 'inc', JSON.stringify({ seq }))
const allShards = (n: number) => Array.from({ length: n }, (_, i) => i)

async function balanced(workers: Worker[]): Promise<void> {
  await waitFor('shards split between the workers', () => {
    const owned = workers.map((w) => w.ownedShards)
    const all = owned.flat().sort((a, b) => a - b)
    return owned.every((o) => o.length > 0) && JSON.stringify(all) === JSON.stringify(allShards(p.shards))
  }, 30_000)
}

describe('several workers on one Redis', () => {
  it('split the shards by rendezvous hashing, hand them over gracefully, and apply every event exactly once', { timeout: 120_000 }, async () => {
    p = await startPipeline({ leaseTtlMs: 1500, shards: 16 })
    const ids = Array.from({ length: 20 }, (_, i) => `c${i}`)
    let seq = 0
    let sending = true
    const traffic = (async () => {
      while (sending) {
        seq++
        await Promise.all(ids.map((id) => inc(id, seq)))
        await new Promise((r) => setTimeout(r, 5))
      }
    })()

    const second = await p.newWorker()
    await balanced([p.worker, second])
    const third = await p.newWorker()
    await balanced([p.worker, second, third])
    await second.stop()
    await balanced([p.worker, third])
    sending = false
    await traffic

    for (const id of ids) {
      const twin = await waitFor(`${id} complete`, async () => {
        const t = await p.store.get('counter', id)
        return t?.rev === seq ? t : null
      })
      expect(twin.context).toMatchObject({ count: seq, lastSeq: seq, gaps: 0, dupes: 0 })
    }
    expect(seq).toBeGreaterThan(5)
    const status = await readClusterStatus(p.redis, p.keys, p.shards, 1500)
    expect(status.workers.map((w) => w.id).sort()).toEqual([p.worker.id, third.id].sort())
    expect(status.shards.every((s) => s.lag === 0 && s.owner !== null)).toBe(true)
    for (const w of status.workers) expect(w.shards).toEqual(w.id === p.worker.id ? p.worker.ownedShards : third.ownedShards)
  })
})
