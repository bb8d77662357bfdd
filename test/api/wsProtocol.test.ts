import type { FastifyInstance } from 'fastify'
import { assign, emit, setup } from 'xstate'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { WsHub } from '../../src/api/ws/hub.ts'
import type { WsOptions } from '../../src/api/ws/options.ts'
import { defineTwin } from '../../src/definitions/defineTwin.ts'
import { TwinRegistry } from '../../src/definitions/registry.ts'
import { Metrics } from '../../src/observability/metrics.ts'
import counter from '../fixtures/twins/counter.ts'
import { waitFor } from '../support/env.ts'
import { startApi } from '../support/api.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'
import { closeProbes, openProbe } from '../support/wsApi.ts'

/** A twin whose states carry XState tags, for tag filters. */
const door = defineTwin({
  type: 'door',
  version: 1,
  events: {
    open: { additionalProperties: false },
    shut: { additionalProperties: false },
    floor: { properties: { n: { type: 'integer' } }, required: ['n'], additionalProperties: false },
  },
  machine: setup({ types: {} as { context: { floor: number }; events: { type: 'open' } | { type: 'shut' } | { type: 'floor'; n: number } } }).createMachine({
    id: 'door',
    initial: 'shut',
    context: { floor: 0 },
    on: { floor: { actions: [assign({ floor: ({ event }) => event.n }), emit(({ event }) => ({ type: 'moved', n: event.n }))] } },
    states: {
      shut: { on: { open: 'open' } },
      open: { tags: ['attention'], on: { shut: 'shut' } },
    },
  }),
})

let p: Pipeline
let app: FastifyInstance
let hub: WsHub
let wsUrl: string
let url: string
let metrics: Metrics

async function start(ws: Partial<WsOptions> = {}): Promise<void> {
  p = await startPipeline({ registry: new TwinRegistry([counter, door]) })
  metrics = new Metrics()
  ;({ app, wsUrl, url } = await startApi(p, { ws, metrics }))
  hub = app.ws
}
/** One value of GET /metrics. */
async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  if (!line) throw new Error(`no metric ${name}`)
  return Number(line.slice(name.length + 1))
}
afterEach(async () => {
  closeProbes()
  await app?.close()
  await p?.stop()
})

const probe = (options = {}) => openProbe(wsUrl, options)
const send = (type: string, id: string, event: string, payload: object = {}) => p.ingestor.fromApi(type, id, event, JSON.stringify(payload))
let seq = 0
const inc = (id: string) => send('counter', id, 'inc', { seq: ++seq })
const applied = (n: number) => waitFor(`${n} applied`, () => p.worker.stats.applied >= n)

describe('WebSocket protocol v1', () => {
  beforeEach(async () => {
    seq = 0
    await start()
  })

  it('greets with welcome, answers hello and ping with ref, and refuses another protocol version', async () => {
    const c = await probe()
    expect(c.messages[0]).toMatchObject({ op: 'welcome', protocol: 1, heartbeatMs: 15000, limits: { rate: 50, burst: 100 } })
    c.send({ op: 'hello', protocol: 1 })
    await c.next('welcome', 2)
    c.send({ op: 'ping', ref: 'r1' })
    expect((await c.next('pong'))[0]).toEqual({ op: 'pong', ref: 'r1' })
    c.send({ op: 'hello', protocol: 2 })
    const [err] = await c.next('error')
    expect(err).toMatchObject({ code: 'TWIN_ERR_WS_BAD_MESSAGE' })
    expect(err!.message).toContain('protocol')
  })

  it('filters on state and sends match:false once when a twin leaves', async () => {
    await inc('a')
    await inc('b')
    await applied(2)
    const c = await probe()
    c.send({ op: 'subscribe', id: 'counting', type: 'counter', state: 'counting' })
    c.send({ op: 'subscribe', id: 'locked', type: 'counter', state: ['locked'] })
    await c.next('subscribed', 2)
    expect(c.of('subscribed', 'counting')[0]!.count).toBe(2)
    expect(c.of('subscribed', 'locked')[0]!.count).toBe(0)
    await send('counter', 'a', 'lock')
    await send('counter', 'a', 'lock') // refused by the machine: no change
    await inc('b')
    await applied(4)
    await c.next('change', 1, 'locked')
    await waitFor('b counted', () => c.of('change', 'counting').some((m) => m.twin.id === 'b'))
    // Twins on different shards: order is per twin only.
    const counting = c.of('change', 'counting').map((m) => [m.twin.id, m.match ?? true])
    expect(counting.sort()).toEqual([['a', false], ['b', true]])
    expect(c.of('change', 'locked').map((m) => [m.twin.id, m.twin.value])).toEqual([['a', 'locked']])
  })

  it('filters on context predicates and on XState tags (also for twins read from Redis)', async () => {
    await send('door', 'd1', 'open')
    await send('door', 'd2', 'floor', { n: 3 })
    await applied(2)
    const c = await probe()
    c.send({ op: 'subscribe', id: 'alert', type: 'door', tags: ['attention'] })
    c.send({ op: 'subscribe', id: 'high', type: 'door', where: [{ path: 'context.floor', op: 'gte', value: 3 }] })
    c.send({ op: 'subscribe', id: 'none', type: 'door', where: [{ path: 'context.floor', op: 'exists' }, { path: 'context.floor', op: 'in', value: [7, 8] }] })
    await c.next('subscribed', 3)
    expect(c.of('snapshot', 'alert').flatMap((m) => m.twins).map((t) => [t.id, t.tags])).toEqual([['d1', ['attention']]])
    expect(c.of('snapshot', 'high').flatMap((m) => m.twins).map((t) => t.id)).toEqual(['d2'])
    expect(c.of('snapshot', 'none')).toEqual([])
    await send('door', 'd2', 'open')
    await send('door', 'd1', 'shut')
    await send('door', 'd2', 'floor', { n: 8 })
    await applied(5)
    await waitFor('changes', () => c.of('change', 'none').length === 1 && c.of('change', 'alert').length === 3)
    const alert = c.of('change', 'alert').map((m) => [m.twin.id, m.twin.rev, m.match ?? true])
    expect(alert.filter(([id]) => id === 'd1')).toEqual([['d1', 2, false]])
    expect(alert.filter(([id]) => id === 'd2')).toEqual([['d2', 2, true], ['d2', 3, true]])
    expect(c.of('change', 'none').map((m) => [m.twin.id, m.twin.context.floor])).toEqual([['d2', 8]])
    expect(c.of('change', 'high').map((m) => m.twin.rev)).toEqual([2, 3])
  })

  it('delivers derived events by name, with or without state (changes: false)', async () => {
    const c = await probe()
    c.send({ op: 'subscribe', id: 'ev', type: 'door', events: ['moved'], changes: false })
    c.send({ op: 'subscribe', id: 'both', type: 'door', ids: ['d1'], events: true })
    c.send({ op: 'subscribe', id: 'bad', type: 'door', changes: false, state: 'open', events: true })
    await c.next('subscribed', 2)
    await c.next('error')
    expect(c.of('error')[0]).toMatchObject({ code: 'TWIN_ERR_WS_BAD_MESSAGE', sub: 'bad' })
    await send('door', 'd1', 'floor', { n: 1 })
    await send('door', 'd2', 'floor', { n: 2 })
    await applied(2)
    await c.next('event', 2, 'ev')
    await c.next('event', 1, 'both')
    expect(c.of('event', 'ev').map((m) => [m.event.twinId, m.event.name, m.event.data.n]).sort()).toEqual([['d1', 'moved', 1], ['d2', 'moved', 2]])
    expect(c.of('change', 'ev')).toEqual([])
    expect(c.of('change', 'both').map((m) => m.twin.id)).toEqual(['d1'])
  })

  it('resumes from since: nothing for current twins, the missed changes in order, new twins as state', async () => {
    for (const id of ['a', 'b', 'c']) await inc(id)
    await applied(3)
    const first = await probe()
    first.send({ op: 'subscribe', id: 'all', type: 'counter' })
    await first.next('subscribed')
    await inc('a')
    await first.next('change')
    const held = first.revs('all')
    expect(Object.fromEntries(held)).toEqual({ a: 2, b: 1, c: 1 })
    // The server drops the connection; changes go on meanwhile.
    for (const s of hub.sessions) s.socket.terminate()
    await waitFor('closed', () => first.closed)
    await inc('a')
    await inc('a')
    await inc('b')
    await inc('d')
    await applied(8)
    const again = await probe()
    again.send({ op: 'subscribe', id: 'all', type: 'counter', since: Object.fromEntries(held) })
    const [subscribed] = await again.next('subscribed')
    expect(subscribed).toEqual({ op: 'subscribed', sub: 'all', count: 4, resumed: { unchanged: 1, replayed: 2, gaps: 0 } })
    expect(again.of('gap')).toEqual([])
    expect(again.of('snapshot').flatMap((m) => m.twins).map((t) => t.id)).toEqual(['d'])
    // In order per twin (twins come in store order).
    const replayed = again.of('change').map((m) => [m.twin.id, m.twin.rev])
    expect(replayed.filter(([id]) => id === 'a')).toEqual([['a', 3], ['a', 4]])
    expect(replayed.filter(([id]) => id !== 'a')).toEqual([['b', 2]])
  })

  it('sends match:false on resume for a held twin that left the filter', async () => {
    await inc('a')
    await applied(1)
    const c = await probe()
    c.send({ op: 'subscribe', id: 's', type: 'counter', state: 'counting', since: { a: 1 } })
    await c.next('subscribed')
    await send('counter', 'a', 'lock')
    await applied(2)
    const d = await probe()
    d.send({ op: 'subscribe', id: 's', type: 'counter', state: 'counting', since: { a: 1 } })
    await d.next('subscribed')
    expect(d.of('change').map((m) => [m.twin.id, m.match])).toEqual([['a', false]])
    expect(d.of('subscribed')[0]!.count).toBe(0)
  })
})

describe('WebSocket resume gaps, heartbeats and rate limits', () => {
  it('sends a gap notice and the current state when the resume buffer no longer holds the missed revs', async () => {
    await start({ resumeRevs: 2 })
    await inc('a')
    await applied(1)
    for (let i = 0; i < 4; i++) await inc('a')
    await applied(5)
    const c = await probe()
    c.send({ op: 'subscribe', id: 'x', type: 'counter', since: { a: 1 } })
    await c.next('subscribed')
    expect(c.of('gap')).toEqual([{ op: 'gap', sub: 'x', id: 'a', from: 1, to: 5 }])
    expect(c.of('snapshot').flatMap((m) => m.twins).map((t) => [t.id, t.rev])).toEqual([['a', 5]])
    expect(c.messages.findIndex((m) => m.op === 'gap')).toBeLessThan(c.messages.findIndex((m) => m.op === 'snapshot'))
    expect(c.of('subscribed')[0]!.resumed).toEqual({ unchanged: 0, replayed: 0, gaps: 1 })
  })

  it('sends heartbeats, and terminates a client that does not answer pings', async () => {
    await start({ heartbeatMs: 150 })
    const alive = await probe()
    const mute = await probe({ autoPong: false })
    await alive.next('heartbeat', 3)
    await waitFor('mute client dropped', () => mute.closed)
    expect(mute.closed!.code).toBe(1006)
    expect(alive.closed).toBeNull()
    expect(hub.stats.closedNoPong).toBe(1)
    expect(await metric('twin_ws_closed_no_pong_total')).toBe(1)
  })

  it('refuses messages over the rate limit with one error, and closes a flooding client with 4029', async () => {
    await start({ rateLimit: 5, rateBurst: 5, floodCloseMs: 400 })
    const c = await probe()
    for (let i = 0; i < 20; i++) c.send({ op: 'ping', ref: String(i) })
    const [err] = await c.next('error')
    expect(err).toMatchObject({ code: 'TWIN_ERR_RATE_LIMITED' })
    await waitFor('all refused', () => hub.stats.rateLimited === 15)
    expect(c.of('pong').map((m) => m.ref)).toEqual(['0', '1', '2', '3', '4'])
    expect(c.of('error')).toHaveLength(1)

    const flood = await probe()
    const timer = setInterval(() => {
      if (flood.socket.readyState === flood.socket.OPEN) for (let i = 0; i < 20; i++) flood.send({ op: 'ping' })
    }, 10)
    try {
      await waitFor('flooder closed', () => flood.closed)
    } finally {
      clearInterval(timer)
    }
    expect(flood.closed).toMatchObject({ code: 4029 })
    expect(flood.closed!.reason).toContain('flooding')
    c.send({ op: 'ping', ref: 'after' })
    await waitFor('pong after', () => c.of('pong').some((m) => m.ref === 'after'))
    expect(await metric('twin_ws_closed_flooding_total')).toBe(1)
    expect(await metric('twin_ws_rate_limited_total')).toBe(hub.stats.rateLimited)
    expect(hub.stats.rateLimited).toBeGreaterThan(15)
    expect(await metric('twin_ws_conflated_total')).toBe(0)
  })
})
