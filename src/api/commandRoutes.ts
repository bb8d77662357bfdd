import type { FastifyInstance } from 'fastify'
import { DEFAULT_COMMAND_TIMEOUT_MS } from '../definitions/commands.ts'
import type { ApiContext } from './context.ts'

/**
 * POST /twins/:type/:id/commands: an app commands a device. The command goes
 * through the twin's inbox like an event, so the twin records it (pending,
 * the desired state) before the engine publishes it to
 * `devices/{type}/{id}/commands/{name}`; the device's ack, or the timeout,
 * shows on the twin's `commands`.
 */
export function commandRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.post<{ Params: { type: string; id: string }; Body: { name: string; payload?: Record<string, unknown>; timeoutMs?: number } }>(
    '/twins/:type/:id/commands',
    {
      config: { scope: 'write' },
      schema: {
        body: {
          type: 'object',
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 64 },
            payload: { type: 'object' },
            timeoutMs: { type: 'integer', minimum: 1, maximum: 86_400_000, default: DEFAULT_COMMAND_TIMEOUT_MS },
          },
          required: ['name'],
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const { type, id } = request.params
      const accepted = await ctx.ingestor.command(type, id, request.body)
      reply.status(202)
      return { accepted: true, ...accepted }
    },
  )
}
