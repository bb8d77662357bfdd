import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { bullConnection } from '../effects/bullConnection.ts'
import { listFailedDeliveries, openWebhookQueue, retryFailedDelivery, type WebhookQueue } from '../effects/webhookQueue.ts'
import { TwinError } from '../errors.ts'
import type { ApiContext } from './context.ts'

/**
 * GET /effects/failed (the webhook dead-letter view) and
 * POST /effects/failed/:jobId/retry. Admin scope.
 *
 * The queue is opened on the first request, with a connection of its own:
 * an API process that nobody asks about side effects opens nothing. It reads
 * the queue whether or not this process has webhooks configured, so
 * deliveries of a webhook removed since stay visible.
 */
export function effectsRoutes(app: FastifyInstance, ctx: Pick<ApiContext, 'redis' | 'keys'>): void {
  let opened: { queue: WebhookQueue; close(): Promise<void> } | undefined
  const queue = (): WebhookQueue => {
    if (!opened) {
      const connection = bullConnection(ctx.redis, 'twin-effects-api', false, app.log as Logger)
      const q = openWebhookQueue(connection, ctx.keys)
      q.on('error', (err) => app.log.warn({ err }, 'webhook queue error'))
      opened = { queue: q, close: async () => { await q.close(); await connection.quit().catch(() => undefined) } }
    }
    return opened.queue
  }
  app.addHook('onClose', async () => opened?.close())

  app.get<{ Querystring: { limit?: number; offset?: number } }>(
    '/effects/failed',
    {
      config: { scope: 'admin' },
      schema: {
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            offset: { type: 'integer', minimum: 0, default: 0 },
          },
          additionalProperties: false,
        },
      },
    },
    async (request) => listFailedDeliveries(queue(), request.query.offset ?? 0, request.query.limit ?? 100),
  )

  app.post<{ Params: { jobId: string } }>(
    '/effects/failed/:jobId/retry',
    { config: { scope: 'admin' } },
    async (request, reply) => {
      if (!(await retryFailedDelivery(queue(), request.params.jobId))) {
        throw new TwinError('TWIN_ERR_NOT_FOUND', `no failed webhook delivery has job id ${JSON.stringify(request.params.jobId)}; GET /effects/failed lists them (URL-encode the id)`)
      }
      reply.status(202)
      return { retried: request.params.jobId }
    },
  )
}
