import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseTokenList, TokenAuth } from '../../src/api/auth.ts'
import { startApi } from '../support/api.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'

/**
 * Property: whatever a client sends (paths, query strings, bodies, headers),
 * the server answers, never with a 5xx, and every error body is
 * `{ error: { code: TWIN_ERR_…, message } }`. Then it still serves a good request.
 */
let p: Pipeline
let app: FastifyInstance
beforeAll(async () => {
  p = await startPipeline()
  ;({ app } = await startApi(p, { auth: new TokenAuth(parseTokenList('fuzz-admin-token:admin,fuzz-read-token:read')), rateLimit: { max: 1_000_000, windowMs: 60_000 } }))
})
afterAll(async () => {
  await app.close()
  await p.stop()
})

const segment = fc.oneof(
  fc.constantFrom('twins', 'counter', 'toaster', 'events', 'history', 'twin-types', 'dead-letters', 'effects', 'failed', 'retry', 'cluster', 'health', 'ready', 'metrics', 'openapi.json', 'ui', 'assets', 'whoami', 'ws-ticket', '..', '%00', '%ff', '%2F', '', 'a'.repeat(300)),
  fc.string({ maxLength: 20 }).map(encodeURIComponent),
)
const path = fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => `/${s.join('/')}`)
const queryValue = fc.oneof(
  fc.constantFrom('context.floor:gt:3', 'context.x:exists', 'attributes.b:in:a|b', 'context.__proto__.x:eq:1', 'context.a:gt:NaN', '0:', '99999:x', '-1', '1e309', '[]', '{}'),
  fc.string({ maxLength: 40 }),
)
const query = fc.array(fc.tuple(fc.constantFrom('type', 'state', 'where', 'limit', 'offset', 'cursor', 'token', 'x', 'where[]'), queryValue), { maxLength: 6 })
  .map((pairs) => pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&'))
const body = fc.oneof(
  fc.json(),
  fc.string({ maxLength: 200 }),
  fc.record({ event: fc.oneof(fc.constantFrom('inc', 'lock', 'arm'), fc.string()), payload: fc.anything() }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
  fc.constant('x'.repeat(10_000)),
)
const headers = fc.record({
  authorization: fc.oneof(fc.constantFrom('Bearer fuzz-admin-token', 'Bearer fuzz-read-token', 'Bearer', 'Basic x', 'Bearer  fuzz-admin-token  x'), fc.string({ maxLength: 60 }).filter((s) => !/[\r\n\0]/.test(s))),
  'content-type': fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'multipart/form-data', ''),
  'x-request-id': fc.string({ maxLength: 80 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
}, { requiredKeys: [] })

describe('HTTP input fuzzing', () => {
  it('never answers 5xx and always answers errors with a TWIN_ERR code', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'), path, query, fc.option(body), headers, async (method, url, qs, payload, hdrs) => {
        const res = await app.inject({ method: method as 'GET', url: qs ? `${url}?${qs}` : url, payload: method === 'GET' || method === 'HEAD' ? undefined : payload ?? undefined, headers: hdrs as Record<string, string> })
        expect(res.statusCode, `${method} ${url}?${qs}`).toBeLessThan(500)
        if (res.statusCode >= 400 && method !== 'HEAD') {
          const error = res.json().error
          expect(error, `${method} ${url}?${qs} -> ${res.body.slice(0, 200)}`).toMatchObject({ code: expect.stringMatching(/^TWIN_ERR_[A-Z_]+$/), message: expect.any(String) })
        }
      }),
      { numRuns: 600, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 1e9) },
    )
    const ok = await app.inject({ url: '/twins?where=context.count:gte:0', headers: { authorization: 'Bearer fuzz-read-token' } })
    expect(ok.statusCode).toBe(200)
  }, 30_000)

  it('answers targeted bad queries on real routes with 4xx TWIN_ERR codes', async () => {
    const auth = { authorization: 'Bearer fuzz-admin-token' }
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/twins', '/twins/counter/a1/history', '/dead-letters', '/effects/failed', '/twin-types/counter'), query, async (url, qs) => {
        const res = await app.inject({ url: `${url}?${qs}`, headers: auth })
        expect(res.statusCode, `${url}?${qs}`).toBeLessThan(500)
        if (res.statusCode >= 400) expect(res.json().error.code).toMatch(/^TWIN_ERR_/)
      }),
      { numRuns: 400 },
    )
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 30 }), fc.string({ maxLength: 30 }), body, async (type, id, payload) => {
        const res = await app.inject({ method: 'POST', url: `/twins/${encodeURIComponent(type)}/${encodeURIComponent(id)}/events`, payload, headers: { ...auth, 'content-type': 'application/json' } })
        expect(res.statusCode).toBeLessThan(500)
        if (res.statusCode >= 400) expect(res.json().error.code).toMatch(/^TWIN_ERR_/)
      }),
      { numRuns: 300 },
    )
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 80 }), fc.constantFrom('a'.repeat(600), 'x~1700000000000-0%3A0', '%00', '..')), async (jobId) => {
        const res = await app.inject({ method: 'POST', url: `/effects/failed/${encodeURIComponent(jobId)}/retry`, headers: auth })
        expect(res.statusCode).toBeLessThan(500)
        expect(res.json().error.code).toMatch(/^TWIN_ERR_/)
      }),
      { numRuns: 100 },
    )
  }, 30_000)

  it('answers huge or negative limit and offset on /effects/failed with 400, not 500', async () => {
    const auth = { authorization: 'Bearer fuzz-admin-token' }
    for (const qs of ['limit=1e309', 'offset=1e309', 'offset=1e20', 'offset=10001', 'offset=-1', 'limit=1001', 'limit=0']) {
      const res = await app.inject({ url: `/effects/failed?${qs}`, headers: auth })
      expect(res.statusCode, qs).toBe(400)
      expect(res.json().error.code, qs).toBe('TWIN_ERR_BAD_REQUEST')
    }
    expect((await app.inject({ url: '/effects/failed?limit=1000&offset=10000', headers: auth })).json()).toEqual({ failed: [], total: 0 })
  })
})
