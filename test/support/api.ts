import type { FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import { buildApi } from '../../src/api/app.ts'
import { openAuth } from '../../src/api/auth.ts'
import type { ApiContext } from '../../src/api/context.ts'
import { silentLog, waitFor } from './env.ts'
import type { Pipeline } from './pipeline.ts'

/**
 * The real API on a free port, over a running pipeline. Open access unless
 * `overrides.auth` says otherwise (tests of auth pass a TokenAuth).
 */
export async function startApi(p: Pipeline, overrides: Partial<ApiContext> = {}): Promise<{ app: FastifyInstance; url: string; wsUrl: string }> {
  const app = await buildApi(
    {
      redis: p.redis, keys: p.keys, shards: p.shards, registry: p.registry, store: p.store, ingestor: p.ingestor, bus: p.bus, maxPayloadBytes: 4096, leaseTtlMs: 2000,
      health: () => ({ worker: p.worker.stats }),
      auth: openAuth,
      ...overrides,
    },
    silentLog,
  )
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  return { app, url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/ws` }
}

/** A real WebSocket client that records every message it receives. */
export class WsClient {
  readonly messages: Array<Record<string, any>> = []
  readonly socket: WebSocket
  closed: { code: number; reason: string } | null = null

  private constructor(socket: WebSocket) {
    this.socket = socket
    socket.on('message', (data) => this.messages.push(JSON.parse(data.toString()) as Record<string, any>))
    socket.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }))
  }

  static async connect(url: string): Promise<WsClient> {
    const socket = new WebSocket(url)
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('error', reject)
    })
    return new WsClient(socket)
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message))
  }

  of(op: string): Array<Record<string, any>> {
    return this.messages.filter((m) => m.op === op)
  }

  next(op: string, count = 1): Promise<Array<Record<string, any>>> {
    return waitFor(`${count} "${op}" message(s)`, () => (this.of(op).length >= count ? this.of(op) : null))
  }

  close(): void {
    this.socket.close()
  }
}
