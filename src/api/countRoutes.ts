import type { FastifyInstance } from 'fastify'
import { emptyCounts, readCounts } from '../store/stateCounts.ts'
import type { ApiContext } from './context.ts'
import { errors } from './schemas.ts'

const counts = { type: 'object', additionalProperties: { type: 'integer' } } as const

/**
 * GET /twins/counts: how many twins of each type are in each state node,
 * have each tag, and satisfy each indicator of their definition. Exact: the
 * commit that changes a twin changes its counts in the same atomic write; a
 * read costs one small hash per shard, whatever the number of twins.
 */
export function countRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Querystring: { type?: string } }>('/twins/counts', {
    config: { scope: 'read' },
    schema: {
      summary: 'Live counts of twins per type: total, per state node (dotted paths, ancestors included), per tag, per indicator',
      querystring: { type: 'object', properties: { type: { type: 'string', maxLength: 64 } }, additionalProperties: false },
      response: {
        200: {
          type: 'object',
          properties: {
            types: {
              type: 'object',
              additionalProperties: { type: 'object', properties: { total: { type: 'integer' }, states: counts, tags: counts, indicators: counts, versions: counts } },
            },
          },
        },
        ...errors,
      },
    },
  }, async (request) => {
    const { type } = request.query
    if (type !== undefined) ctx.registry.requireActor(type)
    const types = await readCounts(ctx.redis, ctx.keys, ctx.shards, type)
    // Types without a twin yet show zero counts, so the overview lists every type.
    for (const t of type !== undefined ? [type] : [...ctx.registry.types, ...ctx.registry.rules.map((r) => r.name)]) types[t] ??= emptyCounts()
    return { types }
  })
}
