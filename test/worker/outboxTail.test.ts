import { describe, expect, it } from 'vitest'
import type { OutboxRead } from '../../src/store/outboxStream.ts'
import { OutboxTail } from '../../src/worker/outboxTail.ts'

/** An outbox of `n` entries with ids 1-0 … n-0, and a count of the entries fetched from it. */
function outbox(n: number) {
  const all: OutboxRead[] = Array.from({ length: n }, (_, i) => ({ streamId: `${i + 1}-0`, entry: { kind: 'topic', id: `e${i + 1}`, key: 'counter/x', topic: 't', payload: '', at: 0 } }))
  const stats = { fetches: 0, fetched: 0 }
  const fetch = async (_shard: number, after: string, count: number) => {
    const from = after ? all.findIndex((e) => e.streamId === after) + 1 : 0
    const got = all.slice(from, from + count)
    stats.fetches++
    stats.fetched += got.length
    return got
  }
  return { all, stats, fetch, grow: (more: number) => { for (let i = 0; i < more; i++) all.push({ ...all[0]!, streamId: `${all.length + 1}-0` }) } }
}

const ids = (r: { entries: readonly OutboxRead[] }) => r.entries.map((e) => e.streamId)

describe('OutboxTail (what the lane ahead read, for the lane behind)', () => {
  it('serves the lane behind from what the lane ahead read: each entry fetched once', async () => {
    const o = outbox(30)
    const tail = new OutboxTail(o.fetch, 100)
    // The lane ahead reads 10 at a time to the end.
    let after = ''
    for (;;) {
      const r = await tail.read(0, after, 10)
      if (!r.entries.length) break
      after = r.entries.at(-1)!.streamId
    }
    expect(o.stats.fetched).toBe(30)
    // The lane behind, from the start: all from the tail, told to read again until it reaches the end.
    const behind = await tail.read(0, '', 10)
    expect(ids(behind)).toEqual(['1-0', '2-0', '3-0', '4-0', '5-0', '6-0', '7-0', '8-0', '9-0', '10-0'])
    expect(behind.more).toBe(true)
    expect(ids(await tail.read(0, '25-0', 10))).toEqual(['26-0', '27-0', '28-0', '29-0', '30-0'])
    expect(o.stats.fetched).toBe(30)
    // At the tail's end: from Redis, and what is new is appended.
    o.grow(5)
    const next = await tail.read(0, '30-0', 10)
    expect(ids(next)).toEqual(['31-0', '32-0', '33-0', '34-0', '35-0'])
    expect(next.more).toBe(false)
    expect(ids(await tail.read(0, '29-0', 10))).toEqual(['30-0', '31-0', '32-0', '33-0', '34-0', '35-0'])
    expect(o.stats.fetched).toBe(35)
  })

  it('two lanes at the same mark share one fetch, appended once', async () => {
    const o = outbox(10)
    const tail = new OutboxTail(o.fetch, 100)
    const [a, b] = await Promise.all([tail.read(0, '', 4), tail.read(0, '', 4)])
    expect(ids(a)).toEqual(ids(b))
    expect(o.stats.fetches).toBe(1)
    expect(ids(await tail.read(0, '4-0', 4))).toEqual(['5-0', '6-0', '7-0', '8-0'])
    expect(ids(await tail.read(0, '2-0', 10))).toEqual(['3-0', '4-0', '5-0', '6-0', '7-0', '8-0'])
  })

  it('keeps at most `keep` entries a shard; a lane further behind, or after forget, fetches again', async () => {
    const o = outbox(50)
    const tail = new OutboxTail(o.fetch, 20)
    for (let after = 0; after < 50; after += 10) await tail.read(0, after ? `${after}-0` : '', 10)
    expect(o.stats.fetched).toBe(50)
    expect(ids(await tail.read(0, '30-0', 5))).toEqual(['31-0', '32-0', '33-0', '34-0', '35-0'])
    expect(o.stats.fetched).toBe(50)
    // 20 kept: 31-0 … 50-0. From 10-0 it is a fetch, and the tail starts over there.
    expect(ids(await tail.read(0, '10-0', 3))).toEqual(['11-0', '12-0', '13-0'])
    expect(o.stats.fetched).toBe(53)
    tail.forget(0)
    await tail.read(0, '11-0', 2)
    expect(o.stats.fetched).toBe(55)
    // Other shards have their own tails.
    await tail.read(1, '', 2)
    expect(o.stats.fetched).toBe(57)
  })
})
