import { expect } from 'vitest'
import type { FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import type { WsHub } from '../../src/api/ws/hub.ts'
import type { WsOptions } from '../../src/api/ws/options.ts'
import { serverMessageError } from '../../src/api/ws/schemas.ts'
import { startApi } from './api.ts'
import { waitFor } from './env.ts'
import type { Pipeline } from './pipeline.ts'

/** The real API on a free port over a running pipeline, with WebSocket settings for the test. */
export async function startWsApi(p: Pipeline, ws: Partial<WsOptions> = {}): Promise<{ app: FastifyInstance; url: string; wsUrl: string; hub: WsHub }> {
  const api = await startApi(p, { ws })
  return { ...api, hub: api.app.ws }
}

/**
 * A raw WebSocket client that records every message and checks each against
 * the server message schemas (src/api/ws/schemas.ts): `schemaErrors` must stay empty.
 */
export class WsProbe {
  readonly messages: Array<Record<string, any>> = []
  readonly schemaErrors: string[] = []
  closed: { code: number; reason: string } | null = null

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const m = JSON.parse(data.toString()) as Record<string, any>
      const why = serverMessageError(m)
      if (why) this.schemaErrors.push(`${why}: ${data.toString().slice(0, 200)}`)
      this.messages.push(m)
    })
    socket.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }))
  }

  static async connect(url: string, options: WebSocket.ClientOptions = {}): Promise<WsProbe> {
    const socket = new WebSocket(url, options)
    const probe = new WsProbe(socket)
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('error', reject)
    })
    return probe
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message))
  }

  of(op: string, sub?: string): Array<Record<string, any>> {
    return this.messages.filter((m) => m.op === op && (sub === undefined || m.sub === sub))
  }

  next(op: string, count = 1, sub?: string, timeoutMs?: number): Promise<Array<Record<string, any>>> {
    return waitFor(`${count} "${op}" message(s)`, () => (this.of(op, sub).length >= count ? this.of(op, sub) : null), timeoutMs)
  }

  /** Latest rev seen per twin id in a subscription (snapshot, change, conflated change). */
  revs(sub: string): Map<string, number> {
    const out = new Map<string, number>()
    for (const m of this.messages) {
      if (m.sub !== sub) continue
      const twins = m.op === 'snapshot' ? m.twins : m.op === 'change' && m.match !== false ? [m.twin] : []
      for (const t of twins as Array<{ id: string; rev: number }>) out.set(t.id, Math.max(out.get(t.id) ?? -1, t.rev))
    }
    return out
  }

  close(): void {
    this.socket.terminate()
  }
}

const open: WsProbe[] = []

/** A probe past its `welcome`, closed (and its schema errors checked) by `closeProbes` after the test. */
export async function openProbe(url: string, options: WebSocket.ClientOptions = {}): Promise<WsProbe> {
  const c = await WsProbe.connect(url, options)
  open.push(c)
  await c.next('welcome')
  return c
}

/** For afterEach: every server message the probes saw matched its schema; the probes are closed. */
export function closeProbes(): void {
  for (const c of open.splice(0)) {
    expect(c.schemaErrors).toEqual([])
    c.close()
  }
}
