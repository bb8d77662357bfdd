import type { FastifyInstance } from 'fastify'
import { TwinError } from '../errors.ts'
import { readClusterStatus } from '../store/clusterStatus.ts'
import { countDeadLetters, listDeadLetters } from '../store/deadLetters.ts'
import type { ApiContext } from './context.ts'
import { anyObject, checkedLimit, errors } from './schemas.ts'

/** How long /ready waits for Redis to answer PING. */
const PING_TIMEOUT_MS = 1000

/** GET /health, GET /ready, GET /metrics, GET /cluster, GET /dead-letters. */
export function opsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/live', {
    config: { scope: 'public', rateLimit: false },
    schema: { summary: 'Liveness: 200 while the process itself works; never depends on Redis or the broker', response: { 200: anyObject } },
  }, async () => ({ status: 'alive' }))

  app.get('/health', {
    config: { scope: 'public', rateLimit: false },
    schema: { summary: 'Health, with live figures: 200 "ok", or 503 "degraded" with the problems (Redis away, broker link down)', response: { 200: anyObject, 503: anyObject } },
  }, async (_request, reply) => {
    const problems = ctx.problems?.() ?? []
    if (problems.length) reply.status(503)
    return { status: problems.length ? 'degraded' : 'ok', ...(problems.length ? { problems } : {}), ...ctx.health() }
  })

  app.get('/ready', {
    config: { scope: 'public', rateLimit: false },
    schema: { summary: 'Readiness: 200 when Redis answers, the broker link is up and a worker holds its shards; else 503 with reasons', response: { 200: anyObject, ...errors } },
  }, async () => {
    const reasons = await notReady(ctx)
    if (reasons.length) throw new TwinError('TWIN_ERR_NOT_READY', `not ready: ${reasons.join('; ')}`, { reasons })
    return { status: 'ready' }
  })

  app.get('/metrics', {
    config: { scope: 'admin' },
    schema: { summary: 'Prometheus metrics (text exposition format)', produces: ['text/plain'] },
  }, async (_request, reply) => {
    if (!ctx.metrics) throw new TwinError('TWIN_ERR_NOT_FOUND', 'metrics are not enabled in this process')
    reply.header('content-type', ctx.metrics.contentType)
    return ctx.metrics.scrape()
  })

  app.get('/cluster', {
    config: { scope: 'admin' },
    schema: { summary: 'Live workers, shard owners, epochs and per-shard lag', response: { 200: anyObject, ...errors } },
  }, async () => readClusterStatus(ctx.redis, ctx.keys, ctx.shards, ctx.leaseTtlMs))

  app.get<{ Querystring: { limit?: number } }>(
    '/dead-letters',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'The newest dead letters with their reasons, and counts by reason',
        querystring: {
          type: 'object',
          properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
          additionalProperties: false,
        },
        response: { 200: { type: 'object', properties: { counts: { type: 'object', additionalProperties: { type: 'integer' } }, deadLetters: { type: 'array', items: anyObject } } }, ...errors },
      },
    },
    async (request) => {
      const [counts, deadLetters] = await Promise.all([
        countDeadLetters(ctx.redis, ctx.keys, ctx.shards),
        listDeadLetters(ctx.redis, ctx.keys, ctx.shards, checkedLimit(request.query.limit, 100, 1000)),
      ])
      return { counts, deadLetters }
    },
  )
}

async function notReady(ctx: ApiContext): Promise<string[]> {
  const c = ctx.redisHealth?.condition
  if (c && c.status !== 'up') return [c.reason]
  let timer: NodeJS.Timeout | undefined
  const ping = await Promise.race([
    ctx.redis.ping().then(() => null, (err: Error) => `Redis does not answer: ${err.message}`),
    new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`Redis did not answer PING within ${PING_TIMEOUT_MS} ms`), PING_TIMEOUT_MS))),
  ]).finally(() => clearTimeout(timer))
  if (ping) return [ping]
  return ctx.notReady ? ctx.notReady() : []
}
