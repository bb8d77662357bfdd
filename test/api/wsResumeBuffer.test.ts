import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { assign, setup } from 'xstate'
import type { WsHub } from '../../src/api/ws/hub.ts'
import type { WsOptions } from '../../src/api/ws/options.ts'
import { RecentChanges } from '../../src/api/ws/recentChanges.ts'
import { defineTwin } from '../../src/definitions/defineTwin.ts'
import { TwinRegistry } from '../../src/definitions/registry.ts'
import type { TwinView } from '../../src/model/record.ts'
import counter from '../fixtures/twins/counter.ts'
import { waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'
import { closeProbes, openProbe, startWsApi } from '../support/wsApi.ts'

/** A twin whose state is `n` copies of a string: large views from small device payloads. */
const fat = defineTwin({
  type: 'fat',
  version: 1,
  events: {
    fill: { properties: { s: { type: 'string' }, n: { type: 'integer' } }, required: ['s', 'n'], additionalProperties: false },
  },
  machine: setup({ types: {} as { context: { blob: string; fills: number }; events: { type: 'fill'; s: string; n: number } } }).createMachine({
    id: 'fat',
    initial: 'on',
    context: { blob: '', fills: 0 },
    states: { on: { on: { fill: { actions: assign(({ context, event }) => ({ blob: event.s.repeat(event.n), fills: context.fills + 1 })) } } } },
  }),
})

let p: Pipeline
let app: FastifyInstance
let hub: WsHub
let wsUrl: string
afterEach(async () => {
  closeProbes()
  await app?.close()
  await p?.stop()
  app = undefined as never
  p = undefined as never
})

async function start(ws: Partial<WsOptions> = {}): Promise<void> {
  p = await startPipeline({ registry: new TwinRegistry([counter, fat]) })
  ;({ app, wsUrl, hub } = await startWsApi(p, ws))
}
const probe = () => openProbe(wsUrl)
const applied = (n: number) => waitFor(`${n} applied`, () => p.worker.stats.applied >= n, 60_000)
const view = (id: string, rev: number, context: unknown = { count: rev }): TwinView => ({ type: 'counter', id, value: 'counting', context, rev, updatedAt: rev })

describe('resume buffer', () => {
  it('is bounded by bytes: least recently changed twins go first, and what it counts stays under the bound', () => {
    const one = JSON.stringify(view('a', 1)).length + 64
    const recent = new RecentChanges({ perTwin: 32, maxTwins: 1_000_000, maxBytes: 10 * one })
    for (const id of ['a', 'b', 'c', 'd']) for (let rev = 1; rev <= 3; rev++) recent.add(view(id, rev))
    // 12 changes of `one` each do not fit in 10: `a` (changed least recently) went first.
    expect(recent.bytes).toBe(9 * one)
    expect(recent.between('counter', 'a', 0, 3)).toBeNull()
    expect(recent.between('counter', 'd', 0, 3)!.map((c) => c.rev)).toEqual([1, 2, 3])
    recent.add(view('b', 4))
    recent.add(view('c', 4))
    // `d` is now the least recently changed.
    expect(recent.between('counter', 'b', 1, 4)!.map((c) => c.rev)).toEqual([2, 3, 4])
    expect(recent.between('counter', 'd', 0, 3)).toBeNull()
    expect(recent.twins).toBe(2)
    expect(recent.bytes).toBe(8 * one)
    // Kept as JSON (what a replay sends), not as the view.
    expect(JSON.parse(recent.between('counter', 'c', 3, 4)![0]!.json.toString())).toEqual(view('c', 4))
  })

  it('gives a gap, not a replay, for a twin evicted by WS_RESUME_BYTES', async () => {
    await start({ resumeBytes: 4096 })
    await p.inc('old')
    await applied(1)
    const c = await probe()
    c.send({ op: 'subscribe', id: 'all', type: 'counter' })
    await c.next('subscribed')
    c.close()
    await p.inc('old')
    // Newer changes of other twins push `old` out of a 4 KB buffer (a counter view is ~150 bytes of JSON).
    for (let i = 0; i < 36; i++) await p.inc(`new${i % 4}`)
    await applied(38)
    // new3's last change comes after all the others have been applied: it is the most recently changed
    // twin whatever order the shards' notices arrived in (Redis Cluster polls each shard on its own).
    await p.inc('new3')
    await applied(39)
    expect(hub.stats.resumeBytes).toBeLessThanOrEqual(4096)
    const d = await probe()
    d.send({ op: 'subscribe', id: 'all', type: 'counter', since: { old: 1, new3: 9 } })
    const [subscribed] = await d.next('subscribed')
    expect(subscribed!.resumed).toEqual({ unchanged: 0, replayed: 1, gaps: 1 })
    expect(d.of('gap')).toEqual([{ op: 'gap', sub: 'all', id: 'old', from: 1, to: 2 }])
    expect(d.of('change').map((m) => [m.twin.id, m.twin.rev])).toEqual([['new3', 10]])
  })

  it('does not send a repeated change notice on: a rev never goes back', async () => {
    await start()
    const c = await probe()
    c.send({ op: 'subscribe', id: 'x', type: 'counter', ids: ['r'] })
    await c.next('subscribed')
    p.bus.publishChange(view('r', 1))
    p.bus.publishChange(view('r', 2))
    // The same notices again (a feed re-delivery): new objects with old revs.
    p.bus.publishChange(view('r', 2))
    p.bus.publishChange(view('r', 1))
    p.bus.publishChange(view('r', 3))
    await c.next('change', 3)
    await new Promise((r) => setTimeout(r, 50))
    expect(c.of('change').map((m) => m.twin.rev)).toEqual([1, 2, 3])
    expect(hub.stats.repeatedChanges).toBe(2)
  })

  it('serialises a change once for clients with distinct subscription names', async () => {
    await start()
    const clients = await Promise.all(Array.from({ length: 20 }, () => probe()))
    clients.forEach((c, i) => c.send({ op: 'subscribe', id: `dash-${i}-${crypto.randomUUID()}`, type: 'counter', ids: ['j'] }))
    await Promise.all(clients.map((c) => c.next('subscribed')))
    let stringified = 0
    const context = { toJSON: () => (stringified++, { count: 7 }) }
    p.bus.publishChange(view('j', 7, context))
    await Promise.all(clients.map((c) => c.next('change')))
    for (const c of clients) expect(c.of('change')[0]!.twin).toEqual(view('j', 7, { count: 7 }))
    expect(stringified).toBe(1)
  })

  it('replays a long resume at the pace the client reads, without passing the hard cap', async () => {
    const TWINS = 30
    const REVS = 32
    await start({ highWaterBytes: 64 * 1024, maxBufferedBytes: 512 * 1024, resumeRevs: REVS })
    // 16 KB per view: the replay below is 30 × 31 × 16 KB ≈ 15 MB, far over the kernel's socket buffers and the 512 KB cap.
    const fill = (id: string) => p.ingestor.fromApi('fat', id, 'fill', JSON.stringify({ s: 'x'.repeat(1024), n: 16 }))
    const ids = Array.from({ length: TWINS }, (_, i) => `f${i}`)
    await Promise.all(ids.map(fill))
    await applied(TWINS)
    for (let r = 1; r < REVS; r++) await Promise.all(ids.map(fill))
    await applied(TWINS * REVS)
    const c = await probe()
    c.send({ op: 'subscribe', id: 'all', type: 'fat', since: Object.fromEntries(ids.map((id) => [id, 1])) })
    await waitFor('subscribed (or closed)', () => c.of('subscribed').length > 0 || c.closed, 30_000)
    expect(c.closed).toBeNull()
    expect(c.of('subscribed')[0]!.resumed).toEqual({ unchanged: 0, replayed: TWINS, gaps: 0 })
    await waitFor('every missed change', () => c.of('change').length === TWINS * (REVS - 1), 30_000)
    expect(c.closed).toBeNull()
    expect(hub.stats.closedSlow).toBe(0)
    for (const id of ids) {
      expect(c.of('change').filter((m) => m.twin.id === id).map((m) => m.twin.rev)).toEqual(Array.from({ length: REVS - 1 }, (_, i) => i + 2))
    }
  })

  it('reads the initial state of at most 4 subscriptions of a socket at once; the others wait their turn', async () => {
    await start()
    for (let i = 0; i < 5; i++) await p.inc(`t${i}`)
    await applied(5)
    const c = await probe()
    for (let s = 0; s < 12; s++) c.send({ op: 'subscribe', id: `s${s}`, type: 'counter' })
    await c.next('subscribed', 12)
    const [session] = hub.sessions
    expect(session!.peakReads).toBe(4)
    for (let s = 0; s < 12; s++) expect(c.of('snapshot', `s${s}`).flatMap((m) => m.twins)).toHaveLength(5)
  })
})
