import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadTwinRegistry } from '../../src/definitions/registry.ts'
import { shardOf, twinKey } from '../../src/model/ids.ts'
import { readClusterFigures } from '../../src/observability/clusterFigures.ts'
import { Metrics } from '../../src/observability/metrics.ts'
import { startApi, WsClient } from '../support/api.ts'
import { ROOT, waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'

let p: Pipeline
let app: FastifyInstance
let metrics: Metrics
let wsUrl: string
beforeEach(async () => {
  const registry = await loadTwinRegistry(join(ROOT, 'twins'))
  p = await startPipeline({ registry })
  metrics = new Metrics().use({
    ingest: () => p.ingestor.stats,
    worker: () => ({ stats: p.worker.stats, activeTwins: p.worker.cache.size, ownedShards: p.worker.ownedShards.length }),
    cluster: () => readClusterFigures(p.redis, p.keys, p.shards, 2000),
  })
  ;({ app, wsUrl } = await startApi(p, { metrics }))
})
afterEach(async () => {
  await app.close()
  await p.stop()
})

const send = (type: string, id: string, event: string, payload: object = {}) =>
  app.inject({ method: 'POST', url: `/twins/${type}/${id}/events`, payload: { event, payload } })
const get = (url: string) => app.inject({ url })

async function elevators(): Promise<void> {
  for (let i = 1; i <= 6; i++) {
    await send('elevator', `e${i}`, 'moving', { fromFloor: 0, toFloor: i })
    await send('elevator', `e${i}`, 'arrived', { floor: i })
  }
  await send('elevator', 'e6', 'fault', { code: 'DOOR' })
  await waitFor('events applied', () => p.worker.stats.applied === 13)
}

describe('GET /twins filters', () => {
  it('filters on context fields and state on the server, across pages', async () => {
    await elevators()
    const ids = async (query: string) => {
      const out: string[] = []
      let cursor: string | undefined
      do {
        const res = await get(`/twins?type=elevator&limit=2&${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
        expect(res.statusCode, res.body).toBe(200)
        out.push(...res.json().twins.map((t: { id: string }) => t.id))
        cursor = res.json().next
      } while (cursor)
      return out.sort()
    }
    expect(await ids('where=context.floor:gt:3')).toEqual(['e4', 'e5', 'e6'])
    expect(await ids('where=context.floor:gte:2&where=context.floor:lt:4')).toEqual(['e2', 'e3'])
    expect(await ids('where=context.faultCode:eq:DOOR')).toEqual(['e6'])
    expect(await ids('where=context.faultCode:eq:null')).toEqual(['e1', 'e2', 'e3', 'e4', 'e5'])
    expect(await ids('where=context.floor:in:1|5')).toEqual(['e1', 'e5'])
    expect(await ids('state=idle&where=context.trips:eq:1&where=context.floor:ne:1')).toEqual(['e2', 'e3', 'e4', 'e5'])
    expect(await ids('where=attributes.building:exists')).toEqual([])
    expect(await ids('where=context.trip.fromFloor:missing')).toHaveLength(6)
  })

  it('answers bad filters and cursors with 400 TWIN_ERR_BAD_REQUEST saying what is wrong', async () => {
    const cases: Array<[string, string]> = [
      ['where=floor:gt:3', 'field context.<path> or attributes.<name>'],
      ['where=context.floor:above:3', 'unknown op "above"'],
      ['where=context.floor:gt:high', 'compares numbers'],
      ['where=context.floor:eq', 'needs a value'],
      ['where=context.floor:exists:1', 'takes no value'],
      ['cursor=garbage', 'cursor is not one this engine handed out'],
      [Array.from({ length: 9 }, () => 'where=context.a:exists').join('&'), 'where'],
    ]
    for (const [query, message] of cases) {
      const res = await get(`/twins?${query}`)
      expect([res.statusCode, res.json().error.code], query).toEqual([400, 'TWIN_ERR_BAD_REQUEST'])
      expect(res.json().error.message, query).toContain(message)
    }
  })

  it('bounds the work of one request: a rare match returns short pages with a cursor', async () => {
    await elevators()
    for (let i = 0; i < 14; i++) await send('elevator', `x${i}`, 'heartbeat')
    await waitFor('all applied', () => p.worker.stats.applied === 27)
    const all = await p.store.list({ limit: 1000 })
    const total = all.twins.length
    expect(total).toBe(20)
    // Nothing matches: with at most 3 entries examined per call it takes many calls, each short.
    let calls = 0
    let cursor: string | undefined
    do {
      const page = await p.store.list({ match: () => false, limit: 2, cursor, maxScan: 3 })
      expect(page.twins).toEqual([])
      cursor = page.next
      calls++
    } while (cursor && calls < 1000)
    expect(calls).toBeGreaterThanOrEqual(Math.ceil(total / 3))
    expect(cursor).toBeUndefined()
  })
})

describe('GET /twins/:type/:id/history and tags', () => {
  it('returns the stored transitions newest first', async () => {
    await send('elevator', 'e12', 'heartbeat')
    await waitFor('applied', () => p.worker.stats.applied === 1)
    await p.worker.stop()
    const key = twinKey('elevator', 'e12')
    const hash = p.keys.shard(shardOf(key, p.shards)).twins
    const record = JSON.parse((await p.redis.hget(hash, key))!)
    record.h = [
      { r: 1, at: 1000, e: 'moving', f: 'idle', t: 'moving' },
      { r: 2, at: 2000, e: 'xstate.after.stuckAfter.elevator.moving', f: 'moving', t: 'fault', x: ['stuck', 'faulted'] },
    ]
    await p.redis.hset(hash, key, JSON.stringify(record))
    const res = await get('/twins/elevator/e12/history')
    expect(res.json()).toEqual({
      type: 'elevator', id: 'e12',
      transitions: [
        { rev: 2, at: 2000, event: 'xstate.after.stuckAfter.elevator.moving', from: 'moving', to: 'fault', emitted: ['stuck', 'faulted'] },
        { rev: 1, at: 1000, event: 'moving', from: 'idle', to: 'moving', emitted: [] },
      ],
    })
    expect((await get('/twins/elevator/e12/history?limit=1')).json().transitions).toHaveLength(1)
    expect((await get('/twins/elevator/nobody/history')).statusCode).toBe(404)
    expect((await get('/twins/elevator/e12/history?limit=0')).statusCode).toBe(400)
  })
})

describe('GET /twin-types statecharts', () => {
  it('describes the elevator: nested states, transitions with guards and delays', async () => {
    const res = await get('/twin-types/elevator')
    expect(res.statusCode).toBe(200)
    const { statechart, events } = res.json()
    expect(Object.keys(events)).toContain('fault')
    expect(statechart.initial).toBe('idle')
    expect(statechart.states.map((s: { key: string }) => s.key)).toEqual(['idle', 'moving', 'doorsOpen', 'outOfService', 'fault'])
    expect(statechart.delays).toEqual({ doorsHeldOpenAfter: 60000, stuckAfter: 90000, offlineAfter: 120000 })
    expect(statechart.transitions).toContainEqual(expect.objectContaining({ source: 'idle', event: 'moving', targets: [], guard: 'overloaded' }))
    expect(statechart.transitions).toContainEqual(expect.objectContaining({ source: 'idle', event: 'moving', targets: ['moving'] }))
    expect(statechart.transitions).toContainEqual(expect.objectContaining({ source: 'moving', targets: ['fault'], after: 'stuckAfter', actions: ['markStuck'] }))
    expect(statechart.transitions).toContainEqual(expect.objectContaining({ source: '', event: 'heartbeat', actions: ['seen'] }))
    const all = (await get('/twin-types')).json().types
    expect(all.map((t: { type: string }) => t.type).sort()).toEqual(['charger', 'elevator', 'meter'])
    expect((await get('/twin-types/toaster')).json().error.code).toBe('TWIN_ERR_UNKNOWN_TYPE')
  })
})

describe('GET /twin-types rule statecharts', () => {
  it("lists a rule's eventless (always) transitions with event '' and always: true", async () => {
    const withRules = await loadTwinRegistry(join(ROOT, 'twins'), join(ROOT, 'rules'))
    const api = await startApi(p, { registry: withRules })
    try {
      const res = await api.app.inject({ method: 'GET', url: '/twin-types' })
      expect(res.statusCode).toBe(200)
      const outage = (res.json().rules as Array<{ name: string; statechart: { transitions: unknown[] } }>).find((r) => r.name === 'meter-area-outage')!
      expect(outage.statechart.transitions).toContainEqual({ source: 'normal', event: '', targets: ['outage'], guard: 'outageSuspected', actions: ['emitOutage', 'startOutage'], always: true })
      expect(outage.statechart.transitions).toContainEqual({ source: 'outage', event: '', targets: ['normal'], guard: 'recovered', actions: ['emitCleared', 'endOutage'], always: true })
      // Evented transitions are unchanged.
      expect(outage.statechart.transitions).toContainEqual(expect.objectContaining({ source: '', event: 'meter.*', actions: ['track'] }))
      expect(outage.statechart.transitions).not.toContainEqual(expect.objectContaining({ event: 'meter.*', always: true }))
    } finally {
      await api.app.close()
    }
  })
})

describe('OpenAPI, metrics, readiness', () => {
  it('serves an OpenAPI document listing every route with the bearer scheme', async () => {
    const res = await get('/openapi.json')
    expect(res.statusCode).toBe(200)
    const spec = JSON.parse(res.body)
    expect(spec.openapi).toMatch(/^3\./)
    expect(spec.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' })
    const routes = Object.entries(spec.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
    const expected = ['GET /twins', 'GET /twins/{type}/{id}', 'GET /twins/{type}/{id}/history', 'POST /twins/{type}/{id}/events', 'GET /twin-types', 'GET /twin-types/{type}',
      'GET /health', 'GET /ready', 'GET /metrics', 'GET /cluster', 'GET /dead-letters']
    for (const route of expected) expect(routes, route).toContain(route)
    expect(spec.paths['/twins'].get.security).toEqual([{ bearerAuth: [] }])
    expect(spec.paths['/health'].get.security).toBeUndefined()
  })

  it('exposes Prometheus metrics after real ingest', async () => {
    // A worker that reports its commit timing, as the engine wires it.
    await p.worker.stop()
    const worker = await p.newWorker({ onCommit: metrics.observeCommit })
    const stats = p.worker.stats
    p.worker = worker
    expect(stats.applied).toBe(0)
    await elevators()
    await send('elevator', 'e1', 'faultCleared') // not accepted in idle: a dead letter
    await waitFor('dead letter', () => p.worker.stats.deadLetters === 1)
    // Two real WebSocket clients, counted by the API's WebSocket hub.
    const sockets = await Promise.all([WsClient.connect(wsUrl), WsClient.connect(wsUrl)])
    const res = await get('/metrics')
    for (const s of sockets) s.socket.close()
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toContain('text/plain')
    const text = res.body
    const value = (line: string) => Number(text.split('\n').find((l) => l.startsWith(line))?.slice(line.length + 1))
    expect(value('twin_ingest_events_total')).toBe(14)
    expect(value('twin_dead_letters_total{reason="TWIN_ERR_EVENT_NOT_ACCEPTED"}')).toBe(1)
    expect(value('twin_active_twins')).toBe(6)
    expect(value('twin_timers_pending')).toBeGreaterThanOrEqual(6)
    expect(value('twin_commit_seconds_count')).toBeGreaterThanOrEqual(1)
    expect(text).toMatch(/twin_shard_lag_events\{shard="0"\} \d+/)
    expect(value('twin_ws_clients')).toBe(2)
    expect(value('twin_ws_conflated_total')).toBe(0)
    expect(text).toContain('process_cpu_user_seconds_total')
  })

  it('answers /ready 200 when Redis answers and 503 with reasons when a check fails', async () => {
    expect((await get('/ready')).json()).toEqual({ status: 'ready' })
    const { app: notReady } = await startApi(p, { notReady: async () => ['the outbox relay is not connected to the MQTT broker'] })
    try {
      const res = await notReady.inject({ url: '/ready' })
      expect(res.statusCode).toBe(503)
      expect(res.json().error).toMatchObject({ code: 'TWIN_ERR_NOT_READY', details: { reasons: ['the outbox relay is not connected to the MQTT broker'] } })
    } finally {
      await notReady.close()
    }
  })
})
