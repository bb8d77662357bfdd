import type { FastifyInstance } from 'fastify'
import { TwinError } from '../errors.ts'
import type { ApiContext } from './context.ts'

const MAX_PAGE = 1000

/** GET /twins, GET /twins/:type/:id, POST /twins/:type/:id/events, GET /twin-types. */
export function twinRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Params: { type: string; id: string } }>('/twins/:type/:id', async (request) => {
    const { type, id } = request.params
    ctx.registry.require(type)
    const twin = await ctx.store.get(type, id)
    if (!twin) throw new TwinError('TWIN_ERR_NOT_FOUND', `no twin ${type}/${id}: it has not received an event yet`)
    return twin
  })

  app.get<{ Querystring: { type?: string; state?: string; limit?: number; cursor?: string } }>(
    '/twins',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            type: { type: 'string' },
            state: { type: 'string', maxLength: 256 },
            limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 100 },
            cursor: { type: 'string', maxLength: 512 },
          },
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      const { type, state, limit, cursor } = request.query
      if (type !== undefined) ctx.registry.require(type)
      return ctx.store.list({ type, state, limit: limit ?? 100, cursor })
    },
  )

  app.post<{ Params: { type: string; id: string }; Body: { event: string; payload?: Record<string, unknown> } }>(
    '/twins/:type/:id/events',
    {
      schema: {
        body: {
          type: 'object',
          properties: { event: { type: 'string', minLength: 1, maxLength: 64 }, payload: {} },
          required: ['event'],
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const { type, id } = request.params
      const { event, payload } = request.body
      const accepted = await ctx.ingestor.fromApi(type, id, event, JSON.stringify(payload ?? {}))
      reply.status(202)
      return { accepted: true, ...accepted }
    },
  )

  app.get('/twin-types', async () => ({
    types: ctx.registry.types.map((type) => {
      const d = ctx.registry.get(type)!
      return { type, version: d.version, description: d.description, topic: d.topic.source, events: d.events }
    }),
  }))
}
