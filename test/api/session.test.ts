import type { FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { parseTokenList, TokenAuth } from '../../src/api/auth.ts'
import { sha256 } from '../../src/secrets.ts'
import { TICKET_TTL_MS } from '../../src/api/wsTickets.ts'
import { startApi, WsClient } from '../support/api.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'

const TOKENS = 'reader-token-1:read,admin-token-1:admin'

/** The upgrade's HTTP status: 101 when it opened, else the refusal's status and body. */
function upgrade(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.once('open', () => {
      ws.close()
      resolve({ status: 101, body: '' })
    })
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    ws.once('error', (err) => (err.message.includes('Unexpected server response') ? undefined : reject(err)))
  })
}

describe('GET /whoami and WebSocket tickets', () => {
  let p: Pipeline
  let app: FastifyInstance
  let wsUrl: string
  beforeEach(async () => {
    p = await startPipeline()
    ;({ app, wsUrl } = await startApi(p, { auth: new TokenAuth(parseTokenList(TOKENS)) }))
  })
  afterEach(async () => {
    await app.close()
    await p.stop()
  })

  it('names the token and its scopes, never the token; a wrong token gets the engine\'s 401', async () => {
    const me = await app.inject({ url: '/whoami', headers: { authorization: 'Bearer reader-token-1' } })
    expect(me.json()).toEqual({ name: 'env-1', scopes: ['read'], auth: 'tokens' })
    const admin = await app.inject({ url: '/whoami', headers: { authorization: 'Bearer admin-token-1' } })
    expect(admin.json()).toEqual({ name: 'env-2', scopes: ['read', 'write', 'admin'], auth: 'tokens' })
    const wrong = await app.inject({ url: '/whoami', headers: { authorization: 'Bearer wrong-token-9' } })
    expect([wrong.statusCode, wrong.json().error.code]).toEqual([401, 'TWIN_ERR_UNAUTHORIZED'])
    expect(wrong.body).not.toContain('wrong-token-9')
  })

  it('a ticket opens one WebSocket with the token\'s scopes, once; it is stored hashed with a 30 s lifetime', async () => {
    const res = await app.inject({ method: 'POST', url: '/ws-ticket', headers: { authorization: 'Bearer reader-token-1' } })
    expect(res.statusCode).toBe(200)
    const { ticket, expiresInMs } = res.json() as { ticket: string; expiresInMs: number }
    expect(expiresInMs).toBe(TICKET_TTL_MS)
    const key = p.keys.wsTicket(sha256(ticket).toString('hex'))
    const ttl = await p.redis.pttl(key)
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(TICKET_TTL_MS)
    expect(await p.redis.get(key)).not.toContain('reader-token-1')

    const ws = await WsClient.connect(`${wsUrl}?ticket=${ticket}`)
    ws.send({ op: 'subscribe', type: 'counter' })
    await ws.next('subscribed')
    ws.close()
    const again = await upgrade(`${wsUrl}?ticket=${ticket}`)
    expect(again.status).toBe(401)
    expect(JSON.parse(again.body).error.message).toContain('POST /ws-ticket')
    expect((await upgrade(`${wsUrl}?ticket=${'x'.repeat(43)}`)).status).toBe(401)
    expect((await upgrade(`${wsUrl}?ticket=short`)).status).toBe(401)
  })

  it('a ticket needs a valid token; ?token= keeps working for existing clients', async () => {
    const res = await app.inject({ method: 'POST', url: '/ws-ticket' })
    expect([res.statusCode, res.json().error.code]).toEqual([401, 'TWIN_ERR_UNAUTHORIZED'])
    expect((await upgrade(`${wsUrl}?token=reader-token-1`)).status).toBe(101)
  })
})
