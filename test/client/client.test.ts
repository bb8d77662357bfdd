import type { FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import { afterEach, describe, expect, it } from 'vitest'
import type { WsHub } from '../../src/api/ws/hub.ts'
import type { WsOptions } from '../../src/api/ws/options.ts'
import { connect, SubscriptionError, type GapMessage, type Twin, type TwinClient } from '../../src/client/index.ts'
import { waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'
import { startWsApi } from '../support/wsApi.ts'

let p: Pipeline
let app: FastifyInstance
let hub: WsHub
let wsUrl: string
const clients: TwinClient[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) c.close()
  await app?.close()
  await p?.stop()
  app = undefined as never
  p = undefined as never
})

async function start(ws: Partial<WsOptions> = {}): Promise<void> {
  p = await startPipeline()
  ;({ app, wsUrl, hub } = await startWsApi(p, ws))
}
function client(onStatus?: (status: string, detail?: { code: number }) => void): TwinClient {
  const c = connect({ url: wsUrl, token: 'secret-token', WebSocket: WebSocket as never, minDelayMs: 20, maxDelayMs: 100, onStatus })
  clients.push(c)
  return c
}
const dropAll = () => {
  for (const s of hub.sessions) s.socket.terminate()
}
async function storeRevs(): Promise<Record<string, number>> {
  const page = await p.store.list({ type: 'counter', limit: 1000 })
  return Object.fromEntries(page.twins.map((t) => [t.id, t.rev]).sort())
}
const revsOf = (twins: ReadonlyMap<string, Twin>) => Object.fromEntries([...twins].map(([id, t]) => [id, t.rev]).sort())
/** Refuses new connections until the returned function is called. */
function refuseConnections(): () => void {
  const accept = hub.accept.bind(hub)
  hub.accept = ((socket: WebSocket) => socket.close(1013, 'try later')) as never
  return () => (hub.accept = accept)
}

describe('twin-engine/client', () => {
  it('subscribes, passes the token, and after the server drops the connection mid-stream resumes without losing state', async () => {
    await start()
    let upgradeUrl = ''
    let authorization: string | undefined
    app.server.on('upgrade', (req) => {
      upgradeUrl = req.url ?? ''
      authorization = req.headers.authorization
    })
    for (const id of ['a', 'b', 'c']) await p.inc(id)
    await waitFor('applied', () => p.worker.stats.applied === 3)
    const c = client()
    const changes: Array<[string, number]> = []
    const events: string[] = []
    const gaps: GapMessage[] = []
    const sub = c.subscribe({ type: 'counter', events: ['counted'] }, {
      onChange: (t) => changes.push([t.id, t.rev]),
      onGap: (g) => gaps.push(g),
      onEvent: (e) => events.push(e.id),
    })
    expect((await sub.ready).count).toBe(3)
    expect(upgradeUrl).toBe('/ws?token=secret-token')
    expect(authorization).toBe('Bearer secret-token')

    // Changes flow while the connection is dropped twice.
    const flow = (async () => {
      for (let i = 0; i < 60; i++) {
        await p.inc(['a', 'b', 'c', 'd'][i % 4]!)
        if (i === 20 || i === 40) dropAll()
        await new Promise((r) => setTimeout(r, 5))
      }
    })()
    await flow
    await waitFor('applied', () => p.worker.stats.applied === 63)
    const expected = await storeRevs()
    await waitFor('client caught up', () => JSON.stringify(revsOf(sub.twins)) === JSON.stringify(expected) || null, 15_000).catch((err) => {
      throw new Error(`${(err as Error).message}: client ${JSON.stringify(revsOf(sub.twins))}, store ${JSON.stringify(expected)}`)
    })
    expect(c.connections).toBeGreaterThanOrEqual(3)
    // Resumed from the buffer: every missed change replayed, no gap.
    expect(gaps).toEqual([])
    expect(events.length).toBeGreaterThan(0)
    expect(sub.twins.get('a')!.context).toMatchObject({ count: 16, gaps: 0 })
    // Changes arrive in rev order per twin, never twice.
    for (const id of ['a', 'b', 'c']) {
      const revs = changes.filter(([t]) => t === id).map(([, r]) => r)
      expect(revs).toEqual([...revs].sort((x, y) => x - y))
      expect(new Set(revs).size).toBe(revs.length)
    }
    expect(await c.ping()).toBeGreaterThanOrEqual(0)
  })

  it('reports a gap when the resume buffer no longer holds what it missed, then holds the current state', async () => {
    await start({ resumeRevs: 2 })
    await p.inc('a')
    await waitFor('applied', () => p.worker.stats.applied === 1)
    const c = client()
    const gaps: GapMessage[] = []
    const states: Array<[string, number]> = []
    const sub = c.subscribe({ type: 'counter' }, { onGap: (g) => gaps.push(g), onState: (t) => states.push([t.id, t.rev]) })
    await sub.ready
    // Keep the client away while five changes happen: more than the buffer's two per twin.
    for (const s of hub.sessions) s.socket.terminate()
    const blocked = hub.accept.bind(hub)
    hub.accept = ((socket: WebSocket) => socket.close(1013, 'try later')) as never
    for (let i = 0; i < 5; i++) await p.inc('a')
    await waitFor('applied', () => p.worker.stats.applied === 6)
    hub.accept = blocked
    await waitFor('gap', () => gaps.length === 1, 15_000)
    expect(gaps[0]).toMatchObject({ id: 'a', from: 1, to: 6 })
    await waitFor('state after gap', () => sub.twins.get('a')?.rev === 6)
    expect(states).toEqual([['a', 1], ['a', 6]])
  })
})

describe('twin-engine/client resume, refusals and dead connections', () => {
  it('resumes 3,000 ids within the server\'s message limit, and drops a held twin that left the filter while away', async () => {
    await start()
    // 16-character ids: the subscribe is ~57 KB, under the 64 KB limit, which leaves room for a few hundred `since` entries.
    const ids = Array.from({ length: 3000 }, (_, i) => `id-${String(i).padStart(13, '0')}`)
    for (let i = 0; i < ids.length; i += 200) await Promise.all(ids.slice(i, i + 200).map((id) => p.inc(id)))
    await waitFor('applied', () => p.worker.stats.applied === 3000, 60_000)
    const closes: number[] = []
    const c = client((status, detail) => status === 'closed' && closes.push(detail!.code))
    const left: string[] = []
    let subscribed = 0
    const sub = c.subscribe({ type: 'counter', ids, state: 'counting' }, { onLeave: (t) => left.push(t.id), onSubscribed: () => subscribed++ })
    expect((await sub.ready).count).toBe(3000)
    const allow = refuseConnections()
    dropAll()
    // While the client is away the first twin changes and the last (left out of `since`) leaves the filter.
    await p.inc(ids[0]!)
    await p.ingestor.fromApi('counter', ids[2999]!, 'lock', '{}')
    await waitFor('applied', () => p.worker.stats.applied === 3002)
    allow()
    await waitFor('resumed', () => subscribed === 2, 15_000)
    expect(closes.filter((code) => code !== 1013)).toEqual([1006])
    expect(left).toEqual([ids[2999]])
    expect(sub.twins.has(ids[2999]!)).toBe(false)
    expect(sub.twins.size).toBe(2999)
    expect(sub.twins.get(ids[0]!)!.rev).toBe(2)
    expect(c.connected).toBe(true)
  })

  it('subscribes again with since when the server says Redis is back, so a change whose notice was lost meanwhile is replayed', async () => {
    await start()
    await p.inc('a')
    await waitFor('applied', () => p.worker.stats.applied === 1)
    const statuses: string[] = []
    const c = connect({ url: wsUrl, token: 'secret-token', WebSocket: WebSocket as never, onServerStatus: (m) => statuses.push(m.redis) })
    clients.push(c)
    const resumed: number[] = []
    const sub = c.subscribe({ type: 'counter' }, { onSubscribed: (m) => m.resumed && resumed.push(m.resumed.replayed) })
    await sub.ready
    const say = (redis: 'down' | 'up') => {
      for (const s of hub.sessions) s.socket.send(JSON.stringify({ op: 'status', redis, message: `Redis ${redis}`, at: Date.now(), ...(redis === 'down' ? { code: 'TWIN_ERR_REDIS_UNAVAILABLE' } : {}) }))
    }
    say('down')
    await waitFor('told', () => statuses.length === 1)
    // Two changes whose notices never reach the socket (lost in the outage); the API's resume buffer has them.
    const [session] = hub.sessions
    const deliver = session!.onChange
    session!.onChange = () => undefined
    await p.inc('a')
    await p.inc('a')
    await waitFor('applied', () => p.worker.stats.applied === 3)
    session!.onChange = deliver
    expect(sub.twins.get('a')!.rev).toBe(1)
    say('up')
    await waitFor('replayed', () => sub.twins.get('a')?.rev === 3, 5000)
    expect(resumed).toEqual([1])
    expect(statuses).toEqual(['down', 'up'])
    // On the same connection, with the subscription held once.
    expect(c.connections).toBe(1)
    expect(session!.subscriptions).toBe(1)
  })

  it('rejects ready when the server refuses a subscription, and does not send it again after a reconnect', async () => {
    await start()
    const c = client()
    const errors: string[] = []
    const bad = c.subscribe({ type: 'no-such-type' }, { onError: (e) => errors.push(e.code) })
    const good = c.subscribe({ type: 'counter' })
    const refusal = await bad.ready.then(() => null, (err: unknown) => err)
    expect(refusal).toBeInstanceOf(SubscriptionError)
    expect(refusal).toMatchObject({ code: 'TWIN_ERR_UNKNOWN_TYPE', sub: bad.id })
    await good.ready
    dropAll()
    await waitFor('reconnected with its subscription', () => c.connections === 2 && c.connected && hub.sessions.size === 1 && [...hub.sessions][0]!.subscriptions === 1)
    await c.ping()
    expect([...hub.sessions].map((s) => s.subscriptions)).toEqual([1])
    expect(errors).toEqual(['TWIN_ERR_UNKNOWN_TYPE'])
  })

  it('drops a connection that went silent after 3 heartbeats without waiting for a closing handshake, and rejects pending pings', async () => {
    await start({ heartbeatMs: 100 })
    const c = client()
    await waitFor('connected', () => c.connected && hub.sessions.size === 1)
    await c.ping()
    // The server side goes silent but keeps the TCP connection: no heartbeats, reads nothing (not even a close frame).
    const [session] = hub.sessions
    hub.sessions.delete(session!)
    const raw = (session!.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket
    raw.pause()
    try {
      const pong = c.ping()
      await expect(pong).rejects.toThrow(/connection closed/)
      // Reconnected long before ws's 30 s closing-handshake timeout.
      await waitFor('reconnected', () => c.connections === 2 && c.connected, 5000)
    } finally {
      raw.resume()
      session!.socket.terminate()
    }
    expect(await c.ping()).toBeGreaterThanOrEqual(0)
  })
})

describe('twin-engine/client packaging', () => {
  it('imports nothing but its own modules and the error class, so browsers can bundle it, and is exported as twin-engine/client', async () => {
    const { readdirSync, readFileSync } = await import('node:fs')
    const { join } = await import('node:path')
    const { ROOT } = await import('../support/env.ts')
    const importsOf = (file: string) => [...readFileSync(file, 'utf8').matchAll(/^(?:import|export)[^\n]*from '([^']+)'/gm)].map((m) => m[1])
    const dir = join(ROOT, 'src/client')
    for (const file of readdirSync(dir)) {
      for (const spec of importsOf(join(dir, file))) expect(spec, `${file} imports ${spec}`).toMatch(/^(\.\/[a-z]+|\.\.\/errors)\.ts$/)
    }
    expect(importsOf(join(ROOT, 'src/errors.ts'))).toEqual([])
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, string> }
    expect(pkg.exports['./client']).toBe('./src/client/index.ts')
  })
})
