import type { FastifyInstance } from 'fastify'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startApi } from '../support/api.ts'
import { waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'

let p: Pipeline
let app: FastifyInstance
beforeEach(async () => {
  p = await startPipeline()
  app = (await startApi(p)).app
})
afterEach(async () => {
  await app.close()
  await p.stop()
})

const post = (type: string, id: string, body: unknown) =>
  app.inject({ method: 'POST', url: `/twins/${type}/${id}/events`, payload: body as object })

describe('HTTP API', () => {
  it('accepts an event, then serves the twin with value, context, rev and updatedAt', async () => {
    const before = Date.now()
    const res = await post('counter', 'h1', { event: 'inc', payload: { seq: 1 } })
    expect(res.statusCode).toBe(202)
    expect(res.json()).toMatchObject({ accepted: true, shard: expect.any(Number), entryId: expect.stringMatching(/^\d+-\d+$/) })
    const twin = await waitFor('twin', async () => {
      const r = await app.inject({ url: '/twins/counter/h1' })
      return r.statusCode === 200 ? r.json() : null
    })
    expect(twin).toMatchObject({ type: 'counter', id: 'h1', value: 'counting', rev: 1, context: { count: 1, lastSeq: 1 } })
    expect(twin.updatedAt).toBeGreaterThanOrEqual(before - 1)
  })

  it('answers 404 with a code for an unknown twin, type or route', async () => {
    const unknownTwin = await app.inject({ url: '/twins/counter/nobody' })
    expect(unknownTwin.statusCode).toBe(404)
    expect(unknownTwin.json().error).toMatchObject({ code: 'TWIN_ERR_NOT_FOUND', message: expect.stringContaining('counter/nobody') })
    const unknownType = await app.inject({ url: '/twins/toaster/x' })
    expect(unknownType.statusCode).toBe(404)
    expect(unknownType.json().error.code).toBe('TWIN_ERR_UNKNOWN_TYPE')
    expect((await app.inject({ url: '/nope' })).json().error.code).toBe('TWIN_ERR_NOT_FOUND')
  })

  it('refuses bad events with 4xx and a code, without dead-lettering them', async () => {
    const cases: Array<[unknown, string, number, string]> = [
      [{ event: 'inc', payload: { seq: 'x' } }, 'counter', 400, 'TWIN_ERR_PAYLOAD_SCHEMA'],
      [{ event: 'explode' }, 'counter', 400, 'TWIN_ERR_UNKNOWN_EVENT'],
      [{ event: 'inc', payload: { seq: 1, type: 'x' } }, 'counter', 400, 'TWIN_ERR_PAYLOAD_RESERVED_FIELD'],
      [{ event: 'inc', payload: [1] }, 'counter', 400, 'TWIN_ERR_PAYLOAD_NOT_OBJECT'],
      [{ event: 'inc', payload: { seq: 1 } }, 'toaster', 404, 'TWIN_ERR_UNKNOWN_TYPE'],
      [{ nope: 1 }, 'counter', 400, 'TWIN_ERR_BAD_REQUEST'],
      [{ event: 'inc', payload: { seq: 1, pad: 'x'.repeat(5000) } }, 'counter', 413, 'TWIN_ERR_PAYLOAD_TOO_LARGE'],
    ]
    for (const [body, type, status, code] of cases) {
      const res = await post(type, 'bad1', body)
      expect([res.statusCode, res.json().error?.code], JSON.stringify(body).slice(0, 80)).toEqual([status, code])
    }
    const invalidId = await post('counter', 'white space', { event: 'inc', payload: { seq: 1 } })
    expect(invalidId.json().error.code).toBe('TWIN_ERR_INVALID_ID')
    const notJson = await app.inject({ method: 'POST', url: '/twins/counter/x/events', headers: { 'content-type': 'application/json' }, payload: '{"event":' })
    expect([notJson.statusCode, notJson.json().error.code]).toEqual([400, 'TWIN_ERR_BAD_REQUEST'])
    const dead = await app.inject({ url: '/dead-letters' })
    expect(dead.json()).toEqual({ counts: {}, deadLetters: [] })
  })

  it('lists twins by type and state, in pages', async () => {
    for (let i = 1; i <= 25; i++) await post('counter', `l${String(i).padStart(2, '0')}`, { event: 'inc', payload: { seq: 1 } })
    await post('counter', 'l01', { event: 'lock' })
    await waitFor('all applied', () => p.worker.stats.applied === 26)
    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const res = await app.inject({ url: `/twins?type=counter&limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}` })
      expect(res.statusCode).toBe(200)
      const body = res.json()
      seen.push(...body.twins.map((t: { id: string }) => t.id))
      cursor = body.next
      pages++
    } while (cursor)
    expect(seen.sort()).toEqual(Array.from({ length: 25 }, (_, i) => `l${String(i + 1).padStart(2, '0')}`))
    expect(pages).toBeGreaterThanOrEqual(3)
    const locked = await app.inject({ url: '/twins?type=counter&state=locked' })
    expect(locked.json().twins.map((t: { id: string }) => t.id)).toEqual(['l01'])
    const badLimit = await app.inject({ url: '/twins?limit=100000' })
    expect([badLimit.statusCode, badLimit.json().error.code]).toEqual([400, 'TWIN_ERR_BAD_REQUEST'])
  })

  it('lists dead letters with their reasons and counts', async () => {
    await post('counter', 'dl', { event: 'lock' })
    await post('counter', 'dl', { event: 'inc', payload: { seq: 1 } })
    await p.ingestor.fromMqtt('devices/toaster/t1/pop', Buffer.from('{}'))
    const body = await waitFor('two dead letters', async () => {
      const b = (await app.inject({ url: '/dead-letters' })).json()
      return b.deadLetters.length === 2 ? b : null
    })
    expect(body.counts).toEqual({ TWIN_ERR_EVENT_NOT_ACCEPTED: 1, TWIN_ERR_UNKNOWN_TYPE: 1 })
    expect(body.deadLetters.map((d: { code: string }) => d.code).sort()).toEqual(['TWIN_ERR_EVENT_NOT_ACCEPTED', 'TWIN_ERR_UNKNOWN_TYPE'])
  })

  it('reports health and twin types', async () => {
    expect((await app.inject({ url: '/health' })).json()).toMatchObject({ status: 'ok' })
    const types = (await app.inject({ url: '/twin-types' })).json().types
    expect(types).toEqual([expect.objectContaining({ type: 'counter', version: 1, topic: 'devices/{type}/{id}/{event}' })])
    expect(Object.keys(types[0].events)).toEqual(['inc', 'arm', 'disarm', 'lock', 'blink'])
  })
})
