import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DerivedEventConsumer } from '../../src/consumer/derivedEventConsumer.ts'
import { waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'

let p: Pipeline
beforeEach(async () => {
  p = await startPipeline()
})
afterEach(() => p.stop())

const consumer = (name: string, claimIdleMs = 60_000) =>
  new DerivedEventConsumer({ redis: p.redis, keys: p.keys, shards: p.shards, group: 'billing', consumer: name, count: 50, claimIdleMs })

async function readAll(c: DerivedEventConsumer, want: number) {
  const got: Awaited<ReturnType<DerivedEventConsumer['read']>> = []
  await waitFor(`${want} events`, async () => {
    got.push(...(await c.read()))
    return got.length >= want
  })
  return got
}

describe('DerivedEventConsumer: the derived-event stream for other services', () => {
  it('delivers every derived event with its stable id, skips the engine-internal entries, and redelivers what was not acknowledged', async () => {
    // Grouped counters also write rule feeds into the outbox: the consumer never sees them.
    for (const id of ['d1', 'd2']) await p.ingestor.fromApi('counter', id, 'attributes', JSON.stringify({ group: 'gx' }))
    for (let seq = 1; seq <= 10; seq++) for (const id of ['d1', 'd2']) await p.ingestor.fromApi('counter', id, 'inc', JSON.stringify({ seq }))
    await waitFor('20 derived events committed', () => p.derived.filter((d) => d.name === 'counted').length === 20)

    const first = consumer('c1')
    await first.start()
    await first.start() // idempotent
    const events = await readAll(first, 20)
    expect(events.map((e) => e.name).every((n) => n === 'counted')).toBe(true)
    expect(new Set(events.map((e) => e.id)).size).toBe(20)
    for (const id of ['d1', 'd2']) {
      expect(events.filter((e) => e.twinId === id).map((e) => e.data.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    }
    await first.ack(events.slice(0, 12))

    // The process restarts under the same name: it gets back exactly what it had not acknowledged.
    const again = consumer('c1')
    const redelivered = await readAll(again, 8)
    expect(redelivered.map((e) => e.id).sort()).toEqual(events.slice(12).map((e) => e.id).sort())
    expect(await again.read()).toEqual([])

    // Another consumer of the group takes over entries left idle too long.
    const other = consumer('c2', 0)
    const claimed = await readAll(other, 8)
    expect(claimed.map((e) => e.id).sort()).toEqual(events.slice(12).map((e) => e.id).sort())
    await other.ack(claimed)
    expect(await consumer('c1').read()).toEqual([])
  })
})
