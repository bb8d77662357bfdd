import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import type { WsHub } from '../../src/api/ws/hub.ts'
import type { WsOptions } from '../../src/api/ws/options.ts'
import { waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'
import { startWsApi, WsProbe } from '../support/wsApi.ts'

const TWINS = 50
const SUBS = 40
const HIGH_WATER = 64 * 1024

let p: Pipeline
let app: FastifyInstance
let hub: WsHub
let wsUrl: string
let c: WsProbe
afterEach(async () => {
  c?.close()
  await app?.close()
  await p?.stop()
})

let seq = 0
async function start(ws: Partial<WsOptions>): Promise<void> {
  seq = 0
  p = await startPipeline()
  ;({ app, wsUrl, hub } = await startWsApi(p, ws))
  await drive(TWINS)
  c = await WsProbe.connect(wsUrl)
  // Many subscriptions to the same twins multiply the outgoing bytes, so a few thousand changes overflow the kernel's socket buffers.
  for (let s = 0; s < SUBS; s++) c.send({ op: 'subscribe', id: `s${s}`, type: 'counter', events: s % 2 === 0 })
  await c.next('subscribed', SUBS)
}

/** `n` more events, round-robin over the twins, through the real ingest → worker → bus pipeline. */
async function drive(n: number): Promise<void> {
  const target = seq + n
  while (seq < target) {
    const batch: Array<Promise<unknown>> = []
    for (let i = 0; i < 200 && seq < target; i++, seq++) {
      const twin = seq % TWINS
      batch.push(p.ingestor.fromApi('counter', `t${twin}`, 'inc', JSON.stringify({ seq: Math.floor(seq / TWINS) + 1 })))
    }
    await Promise.all(batch)
  }
  await waitFor(`${target} applied`, () => p.worker.stats.applied >= target, 60_000)
}

/** TCP-level pause: the client stops reading, so the server's socket buffer fills up. */
const pause = () => (c.socket as unknown as { _socket: { pause(): void } })._socket.pause()
const resume = () => (c.socket as unknown as { _socket: { resume(): void } })._socket.resume()

describe('WebSocket slow consumers', () => {
  it('conflates a client that stops reading: bounded server buffers, and once it reads it holds the latest rev of every twin', async () => {
    await start({ highWaterBytes: HIGH_WATER, maxBufferedBytes: 256 * 1024 * 1024, slowCloseMs: 120_000 })
    pause()
    await drive(4000)
    await waitFor('conflating', () => hub.stats.conflations >= 1)
    const stats = hub.stats
    // Unsent bytes never grow far past the mark: a flush round adds at most one mark's worth above the low mark.
    expect(stats.peakBufferedBytes).toBeLessThan(2 * HIGH_WATER)
    expect(stats.peakConflatedTwins).toBeGreaterThan(0)
    expect(stats.peakConflatedTwins).toBeLessThanOrEqual(SUBS * TWINS)
    expect(stats.droppedEvents).toBeGreaterThan(0)
    expect(c.closed).toBeNull()

    resume()
    const latest = new Map((await p.store.list({ type: 'counter', limit: 1000 })).twins.map((t) => [t.id, t.rev]))
    expect(latest.size).toBe(TWINS)
    expect(Math.max(...latest.values())).toBe(4000 / TWINS + 1)
    for (let s = 0; s < SUBS; s++) {
      await waitFor(`s${s} caught up`, () => {
        const revs = c.revs(`s${s}`)
        return [...latest].every(([id, rev]) => revs.get(id) === rev)
      }, 30_000)
    }
    const conflated = c.of('conflated')
    expect(conflated.length).toBeGreaterThanOrEqual(SUBS)
    expect(conflated.some((m) => m.droppedEvents > 0)).toBe(true)
    expect(c.of('change').some((m) => m.conflated === true)).toBe(true)
    // Per subscription and twin, revs never go back.
    for (let s = 0; s < SUBS; s++) {
      const last = new Map<string, number>()
      for (const m of c.of('change', `s${s}`)) {
        expect(m.twin.rev).toBeGreaterThan(last.get(m.twin.id) ?? 0)
        last.set(m.twin.id, m.twin.rev)
      }
    }
    expect(c.schemaErrors).toEqual([])
    expect(hub.stats.closedSlow).toBe(0)
  })

  it('closes a conflating client with 4008 once it would hold more than WS_MAX_HELD changes (overlapping subscriptions)', async () => {
    // 40 subscriptions × 50 twins could hold 2,000 (subscription, twin) changes; allow 300.
    await start({ highWaterBytes: HIGH_WATER, maxBufferedBytes: 256 * 1024 * 1024, slowCloseMs: 120_000, maxHeld: 300 })
    pause()
    await drive(4000)
    await waitFor('closed as slow', () => hub.stats.closedSlow === 1, 20_000)
    expect(hub.stats.peakConflatedTwins).toBe(300)
    resume()
    await waitFor('close frame read', () => c.closed)
    expect(c.closed!.code).toBe(4008)
    expect(c.closed!.reason).toMatch(/^slow consumer: over 300 changes held/)
  })

  it('closes a client that stays over the mark with 4008 and a reason', async () => {
    await start({ highWaterBytes: HIGH_WATER, slowCloseMs: 300 })
    pause()
    // Changes keep coming while the client does not read (the kernel's socket buffers take the first megabytes).
    const deadline = Date.now() + 20_000
    while (hub.stats.closedSlow === 0 && Date.now() < deadline) await drive(500)
    expect(hub.stats.closedSlow).toBe(1)
    resume()
    await waitFor('close frame read', () => c.closed)
    expect(c.closed!.code).toBe(4008)
    expect(c.closed!.reason).toMatch(/^slow consumer/)
  })
})
