import type { FastifyInstance } from 'fastify'
import { readClusterStatus } from '../store/clusterStatus.ts'
import { countDeadLetters, listDeadLetters } from '../store/deadLetters.ts'
import type { ApiContext } from './context.ts'

/** GET /health, GET /cluster, GET /dead-letters. */
export function opsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/health', async () => ({ status: 'ok', ...ctx.health() }))

  app.get('/cluster', async () => readClusterStatus(ctx.redis, ctx.keys, ctx.shards, ctx.leaseTtlMs))

  app.get<{ Querystring: { limit?: number } }>(
    '/dead-letters',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      const [counts, deadLetters] = await Promise.all([
        countDeadLetters(ctx.redis, ctx.keys, ctx.shards),
        listDeadLetters(ctx.redis, ctx.keys, ctx.shards, request.query.limit ?? 100),
      ])
      return { counts, deadLetters }
    },
  )
}
