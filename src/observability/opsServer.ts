import { createServer, type Server } from 'node:http'
import type { Logger } from 'pino'
import type { Metrics } from './metrics.ts'

export interface OpsServerOptions {
  host: string
  port: number
  /** live figures for /health */
  health(): Record<string, unknown>
  /** what does not work now; non-empty: /health answers 503 */
  problems(): string[]
  /** why the process is not ready; non-empty: /ready answers 503 */
  notReady(): Promise<string[]>
  metrics?: Metrics
  log: Logger
}

/**
 * /live, /health, /ready and /metrics for a process without the api role (a
 * worker), on HTTP_PORT, so every role of the one image has the same probes:
 * Docker's HEALTHCHECK, Kubernetes' liveness and readiness, Prometheus.
 * They show figures and reasons, never twin data, and need no token.
 */
export async function startOpsServer(o: OpsServerOptions): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const send = (status: number, body: unknown, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type })
      res.end(typeof body === 'string' ? body : JSON.stringify(body))
    }
    const path = (req.url ?? '/').split('?')[0]
    const answer = async () => {
      if (req.method !== 'GET') return send(405, { error: { code: 'TWIN_ERR_BAD_REQUEST', message: 'only GET' } })
      if (path === '/live') return send(200, { status: 'alive' })
      if (path === '/health') {
        const problems = o.problems()
        return send(problems.length ? 503 : 200, { status: problems.length ? 'degraded' : 'ok', ...(problems.length ? { problems } : {}), ...o.health() })
      }
      if (path === '/ready') {
        const reasons = await o.notReady()
        return reasons.length
          ? send(503, { error: { code: 'TWIN_ERR_NOT_READY', message: `not ready: ${reasons.join('; ')}`, details: { reasons } } })
          : send(200, { status: 'ready' })
      }
      if (path === '/metrics' && o.metrics) return send(200, await o.metrics.scrape(), o.metrics.contentType)
      send(404, { error: { code: 'TWIN_ERR_NOT_FOUND', message: `no route GET ${path.slice(0, 200)}; this process serves /live, /health, /ready, /metrics` } })
    }
    answer().catch((err: Error) => {
      o.log.error({ err }, 'ops endpoint failed')
      if (!res.headersSent) send(500, { error: { code: 'TWIN_ERR_INTERNAL', message: 'internal error; see the engine log' } })
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port, o.host, () => resolve())
  })
  const address = server.address()
  const url = `http://${o.host}:${typeof address === 'object' && address ? address.port : o.port}`
  o.log.info({ url }, 'ops endpoints listening (/live, /health, /ready, /metrics)')
  return { url, close: () => new Promise((resolve) => server.close(() => resolve())) }
}
