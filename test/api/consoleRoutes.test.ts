import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseTokenList, TokenAuth } from '../../src/api/auth.ts'
import { CONSOLE_CSP } from '../../src/api/consoleRoutes.ts'
import { startApi } from '../support/api.ts'
import { ensureConsoleBuilt } from '../support/browser.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'

describe('the console\'s routes', () => {
  let p: Pipeline
  let app: FastifyInstance
  beforeAll(async () => {
    await ensureConsoleBuilt()
    p = await startPipeline()
    ;({ app } = await startApi(p, { auth: new TokenAuth(parseTokenList('reader-token-1:read')) }))
  }, 120_000)
  afterAll(async () => {
    await app.close()
    await p.stop()
  })

  it('/ redirects to ui/ relatively, so a path prefix in front of the engine is kept', async () => {
    const res = await app.inject({ url: '/' })
    expect([res.statusCode, res.headers.location]).toEqual([302, 'ui/'])
  })

  it('serves the app at every deep link without a token, with a CSP forbidding inline script and a relative <base>', async () => {
    for (const [url, base] of [['/ui/', './'], ['/ui/twins', './'], ['/ui/twins/elevator/e-12', '../../'], ['/ui/twins/', '../']] as const) {
      const res = await app.inject({ url })
      expect(res.statusCode, url).toBe(200)
      expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP)
      expect(CONSOLE_CSP).toContain("script-src 'self'")
      expect(CONSOLE_CSP).not.toContain('unsafe-inline')
      expect(res.body).toContain(`<base href="${base}">`)
      // Built assets are referenced relatively, and no script is inline.
      expect(res.body).toMatch(/src="\.\/assets\/index-[\w-]+\.js"/)
      expect(res.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/)
    }
    const html = (await app.inject({ url: '/ui/' })).body
    const asset = /src="\.\/(assets\/index-[\w-]+\.js)"/.exec(html)![1]!
    const js = await app.inject({ url: `/ui/${asset}` })
    expect(js.statusCode).toBe(200)
    expect(js.headers['cache-control']).toContain('immutable')
    expect((await app.inject({ url: '/ui/assets/../../package.json' })).body).not.toContain('"dependencies"')
  })

  it('is not in the OpenAPI document; the API routes still need their token', async () => {
    const doc = (await app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, unknown> }
    expect(Object.keys(doc.paths).filter((path) => path.startsWith('/ui'))).toEqual([])
    expect(doc.paths['/whoami']).toBeDefined()
    expect(doc.paths['/ws-ticket']).toBeDefined()
    expect((await app.inject({ url: '/twins' })).statusCode).toBe(401)
  })
})
