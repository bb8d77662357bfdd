import type { FastifyInstance } from 'fastify'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startApi, WsClient } from '../support/api.ts'
import { waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'

let p: Pipeline
let app: FastifyInstance
let wsUrl: string
const clients: WsClient[] = []
beforeEach(async () => {
  p = await startPipeline()
  ;({ app, wsUrl } = await startApi(p))
})
afterEach(async () => {
  for (const c of clients.splice(0)) c.close()
  await app.close()
  await p.stop()
})

async function client(): Promise<WsClient> {
  const c = await WsClient.connect(wsUrl)
  clients.push(c)
  return c
}
const inc = (id: string, seq: number) => p.ingestor.fromApi('counter', id, 'inc', JSON.stringify({ seq }))

describe('WebSocket /ws', () => {
  it('sends the current state of matching twins, then every change with its rev, then derived events', async () => {
    await inc('w1', 1)
    await inc('w2', 1)
    await waitFor('both applied', () => p.worker.stats.applied === 2)
    const c = await client()
    c.send({ op: 'subscribe', id: 'all', type: 'counter', events: true })
    const [subscribed] = await c.next('subscribed')
    expect(subscribed).toEqual({ op: 'subscribed', sub: 'all', count: 2 })
    const initial = c.of('snapshot').flatMap((m) => m.twins)
    expect(initial.map((t: { id: string; rev: number }) => [t.id, t.rev]).sort()).toEqual([['w1', 1], ['w2', 1]])

    for (let seq = 2; seq <= 6; seq++) await inc('w1', seq)
    const changes = await c.next('change', 5)
    expect(changes.map((m) => [m.sub, m.twin.id, m.twin.rev, m.twin.context.count])).toEqual([2, 3, 4, 5, 6].map((r) => ['all', 'w1', r, r]))
    const events = await c.next('event', 5)
    expect(events.map((m) => [m.event.name, m.event.twinId, m.event.data.seq])).toEqual([2, 3, 4, 5, 6].map((s) => ['counted', 'w1', s]))
  })

  it('filters by ids, and stops after unsubscribe', async () => {
    const c = await client()
    c.send({ op: 'subscribe', id: 'one', type: 'counter', ids: ['x1'] })
    await c.next('subscribed')
    await inc('x2', 1)
    await inc('x1', 1)
    await c.next('change')
    await waitFor('both applied', () => p.worker.stats.applied === 2)
    expect(c.of('change').map((m) => m.twin.id)).toEqual(['x1'])
    c.send({ op: 'unsubscribe', id: 'one' })
    await c.next('unsubscribed')
    await inc('x1', 2)
    await waitFor('applied', () => p.worker.stats.applied === 3)
    await new Promise((r) => setTimeout(r, 100))
    expect(c.of('change')).toHaveLength(1)
  })

  it('answers bad messages with typed errors and keeps the connection', async () => {
    const c = await client()
    c.send('not json')
    c.send('[1,2]')
    c.send({ op: 'dance' })
    c.send({ op: 'subscribe', type: 'toaster' })
    c.send({ op: 'subscribe', type: 'counter', ids: 'x1' })
    c.send({ op: 'unsubscribe', id: 'never' })
    c.socket.send(Buffer.from([1, 2, 3]), { binary: true })
    const errors = await c.next('error', 7)
    expect(errors.map((e) => e.code)).toEqual([
      'TWIN_ERR_WS_BAD_MESSAGE',
      'TWIN_ERR_WS_BAD_MESSAGE',
      'TWIN_ERR_WS_BAD_MESSAGE',
      'TWIN_ERR_UNKNOWN_TYPE',
      'TWIN_ERR_WS_BAD_MESSAGE',
      'TWIN_ERR_WS_BAD_MESSAGE',
      'TWIN_ERR_WS_BAD_MESSAGE',
    ])
    for (const e of errors) expect(e.message.length).toBeGreaterThan(10)
    c.send({ op: 'ping' })
    await c.next('pong')
    expect(c.closed).toBeNull()
  })

  it('closes a connection that sends an oversized frame, and others keep working', async () => {
    const big = await client()
    big.send('x'.repeat(200 * 1024))
    await waitFor('closed', () => big.closed)
    expect(big.closed?.code).toBe(1009)
    const c = await client()
    c.send({ op: 'ping' })
    await c.next('pong')
  })
})
