import type { FastifyInstance } from 'fastify'
import { assign, setup } from 'xstate'
import { afterEach, describe, expect, it } from 'vitest'
import { defineTwin } from '../../src/definitions/defineTwin.ts'
import { TwinRegistry } from '../../src/definitions/registry.ts'
import { shardRange } from '../../src/model/ids.ts'
import { startApi } from '../support/api.ts'
import { waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'
import { seeded } from '../support/seeded.ts'

const lamp = defineTwin({
  type: 'lamp',
  version: 1,
  events: { on: {}, off: {}, dim: {}, bright: {}, temp: { properties: { c: { type: 'number' } }, required: ['c'] } },
  indicators: { hot: ({ context }) => context.c > 50 },
  machine: setup({ types: {} as { context: { c: number }; events: { type: 'on' } | { type: 'off' } | { type: 'dim' } | { type: 'bright' } | { type: 'temp'; c: number } } }).createMachine({
    id: 'lamp',
    context: { c: 20 },
    initial: 'off',
    on: { temp: { actions: assign({ c: ({ event }) => event.c }) } },
    states: {
      off: { on: { on: 'lit' } },
      lit: {
        tags: ['lit'],
        initial: 'bright',
        states: { bright: { on: { dim: 'dim' } }, dim: { on: { bright: 'bright' } } },
        on: { off: 'off' },
      },
    },
  }),
})

let p: Pipeline
let app: FastifyInstance | undefined

afterEach(async () => {
  await app?.close()
  await p?.stop()
})

const send = (id: string, event: string, payload: object = {}) => p.ingestor.fromApi('lamp', id, event, JSON.stringify(payload))
const counts = async () => (await app!.inject({ url: '/twins/counts' })).json().types.lamp

describe('GET /twins/counts', () => {
  it('counts twins per state node (ancestors included), tag and indicator, exactly, as they move', async () => {
    p = await startPipeline({ registry: new TwinRegistry([lamp]) })
    app = (await startApi(p)).app
    expect(await counts()).toEqual({ total: 0, states: {}, tags: {}, indicators: {}, versions: {} })
    await send('a', 'on')
    await send('b', 'on')
    await send('b', 'dim')
    await send('c', 'temp', { c: 60 })
    await waitFor('applied', () => p.worker.stats.applied === 4)
    expect(await counts()).toEqual({ total: 3, states: { off: 1, lit: 2, 'lit.bright': 1, 'lit.dim': 1 }, tags: { lit: 2 }, indicators: { hot: 1 }, versions: { 1: 3 } })
    await send('b', 'off')
    await send('c', 'temp', { c: 10 })
    await waitFor('applied', () => p.worker.stats.applied === 6)
    expect(await counts()).toEqual({ total: 3, states: { off: 2, lit: 1, 'lit.bright': 1 }, tags: { lit: 1 }, indicators: {}, versions: { 1: 3 } })
    const lit = (await app.inject({ url: '/twins?type=lamp&tag=lit' })).json()
    expect(lit.twins.map((t: { id: string; tags: string[] }) => [t.id, t.tags])).toEqual([['a', ['lit']]])
    // The declared indicators are listed with the type, so an app shows one at 0 (counts leave zeros out).
    expect((await app.inject({ url: '/twin-types/lamp' })).json().indicators).toEqual(['hot'])
    const one = (await app.inject({ url: '/twins/counts?type=lamp' })).json()
    expect(Object.keys(one.types)).toEqual(['lamp'])
    expect((await app.inject({ url: '/twins/counts?type=toaster' })).json().error.code).toBe('TWIN_ERR_UNKNOWN_TYPE')
  })

  it('matches a count of every stored twin after random traffic, and a shard that never kept counts is recounted by its next owner', async () => {
    p = await startPipeline({ registry: new TwinRegistry([lamp]) })
    app = (await startApi(p)).app
    const random = seeded(7)
    const events = ['on', 'off', 'dim', 'bright', 'temp']
    let sent = 0
    for (let n = 0; n < 400; n++) {
      const event = events[Math.floor(random() * events.length)]!
      await send(`l${Math.floor(random() * 40)}`, event, event === 'temp' ? { c: Math.floor(random() * 100) } : {})
      sent++
    }
    await waitFor('all handled', () => p.worker.stats.applied + p.worker.stats.deadLetters === sent, 20_000)
    const expected = await countFromTwins()
    expect(await counts()).toEqual(expected)

    // As if the data set were older than the counts: forget them, then hand the shards to a new worker.
    await p.worker.stop()
    for (const shard of shardRange(p.shards)) {
      const k = p.keys.shard(shard)
      await p.redis.del(k.counts)
      await p.redis.hdel(k.meta, 'counted')
    }
    expect((await counts()).total).toBe(0)
    p.worker = await p.newWorker()
    await waitFor('recounted', async () => (await counts()).total === expected.total)
    expect(await counts()).toEqual(expected)
  })
})

/** The counts computed from the stored twins themselves (paging through GET /twins). */
async function countFromTwins(): Promise<Record<string, unknown> & { total: number }> {
  const out = { total: 0, states: {} as Record<string, number>, tags: {} as Record<string, number>, indicators: {} as Record<string, number>, versions: {} as Record<string, number> }
  const bump = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1)
  let cursor: string | undefined
  do {
    const page = (await app!.inject({ url: `/twins?type=lamp&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}` })).json()
    for (const t of page.twins) {
      out.total++
      bump(out.versions, '1')
      if (typeof t.value === 'string') bump(out.states, t.value)
      else for (const [k, v] of Object.entries(t.value)) (bump(out.states, k), bump(out.states, `${k}.${v as string}`))
      for (const tag of t.tags ?? []) bump(out.tags, tag)
      if (t.context.c > 50) bump(out.indicators, 'hot')
    }
    cursor = page.next
  } while (cursor)
  return out
}
