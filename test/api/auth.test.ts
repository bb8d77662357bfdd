import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { loadApiAuth, parseTokenList, TokenAuth } from '../../src/api/auth.ts'
import { sha256 } from '../../src/secrets.ts'
import { startApi, WsClient } from '../support/api.ts'
import { ROOT } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'
import { thrown } from '../support/thrown.ts'

const TOKENS = 'reader-token-1:read,writer-token-1:read+write,admin-token-1:admin'

describe('API tokens (settings)', () => {
  it('parses API_TOKENS with implied scopes and names entries without echoing tokens', () => {
    const auth = new TokenAuth(parseTokenList(TOKENS))
    expect([...auth.identify('reader-token-1')!.scopes]).toEqual(['read'])
    expect([...auth.identify('writer-token-1')!.scopes]).toEqual(['read', 'write'])
    expect(auth.identify('admin-token-1')).toEqual({ name: 'env-3', scopes: new Set(['read', 'write', 'admin']) })
    expect(auth.identify('admin-token-2')).toBeNull()
    expect(auth.identify(undefined)).toBeNull()
    const err = thrown(() => parseTokenList('sup3rs3cret:fly'))
    expect(err).toMatchObject({ code: 'TWIN_ERR_CONFIG', message: expect.stringContaining('unknown scope "fly"') })
    expect(String((err as Error).message)).not.toContain('sup3rs3cret')
  })

  it('reads API_TOKENS_FILE with plain and sha256 tokens', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tokens-')), 'tokens.json')
    writeFileSync(file, JSON.stringify([
      { token: 'dashboard-token', scopes: ['read'], name: 'dashboard' },
      { sha256: sha256('hashed-admin-token').toString('hex'), scopes: ['admin'], name: 'ops' },
    ]))
    const auth = loadApiAuth({ auth: 'tokens', apiTokensFile: file })
    expect(auth.identify('dashboard-token')?.name).toBe('dashboard')
    expect(auth.identify('hashed-admin-token')?.scopes.has('write')).toBe(true)
  })

  it('refuses AUTH=tokens without tokens, saying how to fix it; the engine does not start', () => {
    expect(thrown(() => loadApiAuth({ auth: 'tokens' }))).toMatchObject({ code: 'TWIN_ERR_CONFIG', message: expect.stringMatching(/API_TOKENS.*API_TOKENS_FILE.*AUTH=open/) })
    const dataDir = mkdtempSync(join(tmpdir(), 'twin-auth-'))
    const run = spawnSync(process.execPath, [join(ROOT, 'bin/twin.js'), 'start'], {
      cwd: ROOT, env: { ...process.env, AUTH: 'tokens', API_TOKENS: '', API_TOKENS_FILE: '', DATA_DIR: dataDir }, encoding: 'utf8', timeout: 30_000,
    })
    rmSync(dataDir, { recursive: true, force: true })
    expect(run.status).toBe(1)
    expect(run.stderr).toContain('TWIN_ERR_CONFIG')
    expect(run.stderr).toContain('AUTH=open')
  })
})

describe('HTTP access control', () => {
  let p: Pipeline
  let app: FastifyInstance
  let wsUrl: string
  beforeEach(async () => {
    p = await startPipeline()
    ;({ app, wsUrl } = await startApi(p, { auth: new TokenAuth(parseTokenList(TOKENS)), rateLimit: { max: 1000, windowMs: 60_000 } }))
  })
  afterEach(async () => {
    await app.close()
    await p.stop()
  })

  const as = (token: string | null, method: 'GET' | 'POST', url: string, payload?: object) =>
    app.inject({ method, url, payload, headers: token ? { authorization: `Bearer ${token}` } : {} })

  it('refuses a request without a token with 401 and says which scope and header it needs', async () => {
    const res = await as(null, 'GET', '/twins')
    expect(res.statusCode).toBe(401)
    expect(res.headers['www-authenticate']).toBe('Bearer')
    expect(res.json().error).toEqual({ code: 'TWIN_ERR_UNAUTHORIZED', message: 'GET /twins: no API token; send Authorization: Bearer <token> with a token that has scope "read"' })
    const wrong = await as('not-a-token', 'GET', '/twins')
    expect([wrong.statusCode, wrong.json().error.code]).toEqual([401, 'TWIN_ERR_UNAUTHORIZED'])
    expect(wrong.json().error.message).toContain('not valid')
    const basic = await app.inject({ url: '/twins', headers: { authorization: 'Basic eDp5' } })
    expect(basic.json().error.message).toContain('not "Bearer <token>"')
  })

  it('refuses a token without the needed scope with 403 naming the scope', async () => {
    const post = await as('reader-token-1', 'POST', '/twins/counter/a1/events', { event: 'inc', payload: { seq: 1 } })
    expect(post.statusCode).toBe(403)
    expect(post.json().error).toEqual({ code: 'TWIN_ERR_FORBIDDEN', message: 'POST /twins/:type/:id/events needs scope "write"; token "env-1" has read' })
    const dead = await as('writer-token-1', 'GET', '/dead-letters')
    expect([dead.statusCode, dead.json().error.code]).toEqual([403, 'TWIN_ERR_FORBIDDEN'])
    expect(dead.json().error.message).toContain('needs scope "admin"')
  })

  it('lets each scope do what it covers; health and readiness stay open', async () => {
    expect((await as('reader-token-1', 'GET', '/twins')).statusCode).toBe(200)
    expect((await as('reader-token-1', 'GET', '/twin-types')).statusCode).toBe(200)
    expect((await as('writer-token-1', 'POST', '/twins/counter/a1/events', { event: 'inc', payload: { seq: 1 } })).statusCode).toBe(202)
    expect((await as('admin-token-1', 'GET', '/dead-letters')).statusCode).toBe(200)
    expect((await as('admin-token-1', 'GET', '/cluster')).statusCode).toBe(200)
    expect((await as(null, 'GET', '/health')).statusCode).toBe(200)
    expect((await as(null, 'GET', '/ready')).statusCode).toBe(200)
  })

  it('refuses a WebSocket upgrade without a valid token, and accepts ?token= or the header', async () => {
    const refused = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(wsUrl)
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      ws.once('open', () => reject(new Error('upgraded without a token')))
      ws.once('error', () => undefined)
    })
    expect(refused).toBe(401)
    const byQuery = await WsClient.connect(`${wsUrl}?token=reader-token-1`)
    byQuery.close()
    const byHeader = new WebSocket(wsUrl, { headers: { authorization: 'Bearer reader-token-1' } })
    await new Promise((resolve, reject) => { byHeader.once('open', resolve); byHeader.once('error', reject) })
    byHeader.close()
  })
})

describe('HTTP rate limit', () => {
  it('answers 429 TWIN_ERR_RATE_LIMITED per token once the window is used up; other tokens go on', async () => {
    const p = await startPipeline()
    const { app } = await startApi(p, { auth: new TokenAuth(parseTokenList(TOKENS)), rateLimit: { max: 3, windowMs: 60_000 } })
    try {
      const get = (token: string) => app.inject({ url: '/twins', headers: { authorization: `Bearer ${token}` } })
      for (let i = 0; i < 3; i++) expect((await get('reader-token-1')).statusCode).toBe(200)
      const limited = await get('reader-token-1')
      expect(limited.statusCode).toBe(429)
      expect(limited.json().error).toMatchObject({ code: 'TWIN_ERR_RATE_LIMITED', message: expect.stringContaining('RATE_LIMIT_MAX') })
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
      expect((await get('writer-token-1')).statusCode).toBe(200)
      // Without a token the address is limited, before the 401.
      for (let i = 0; i < 3; i++) expect((await app.inject({ url: '/twins' })).statusCode).toBe(401)
      expect((await app.inject({ url: '/twins' })).statusCode).toBe(429)
    } finally {
      await app.close()
      await p.stop()
    }
  })
})
