import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { bullConnection } from '../effects/bullConnection.ts'
import { KEEP_FAILED, listFailedDeliveries, openWebhookQueue, retryFailedDelivery, type WebhookQueue } from '../effects/webhookQueue.ts'
import { TwinError } from '../errors.ts'
import type { ApiContext } from './context.ts'
import { checkedLimit } from './schemas.ts'

const MAX_PAGE = 1000
/** The failed set keeps the newest KEEP_FAILED.count (10,000) deliveries: nothing lies beyond. */
const MAX_OFFSET = KEEP_FAILED.count
/** `<webhook name (64)>~<escaped event id>`: far below this. */
const MAX_JOB_ID = 512

/** Like checkedLimit: the schema's coercion lets `1e309` through as Infinity, which BullMQ turns into a 500. */
function checkedOffset(value: number | undefined): number {
  if (value === undefined) return 0
  if (!Number.isSafeInteger(value) || value < 0 || value > MAX_OFFSET) throw new TwinError('TWIN_ERR_BAD_REQUEST', `querystring/offset must be an integer from 0 to ${MAX_OFFSET}`)
  return value
}

/**
 * GET /effects/failed (the webhook dead-letter view) and
 * POST /effects/failed/:jobId/retry. Admin scope.
 *
 * The queue is opened on the first request, with a connection of its own:
 * an API process that nobody asks about side effects opens nothing. It reads
 * the queue whether or not this process has webhooks configured, so
 * deliveries of a webhook removed since stay visible (with `url: null`; the
 * URL shown is the redacted one of this process's WEBHOOKS_FILE).
 */
export function effectsRoutes(app: FastifyInstance, ctx: Pick<ApiContext, 'redis' | 'keys' | 'webhooks'>): void {
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
            limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 100 },
            offset: { type: 'integer', minimum: 0, maximum: MAX_OFFSET, default: 0 },
          },
          additionalProperties: false,
        },
      },
    },
    async (request) => listFailedDeliveries(queue(), checkedOffset(request.query.offset), checkedLimit(request.query.limit, 100, MAX_PAGE), ctx.webhooks ?? []),
  )

  app.post<{ Params: { jobId: string } }>(
    '/effects/failed/:jobId/retry',
    {
      config: { scope: 'admin' },
      schema: { params: { type: 'object', properties: { jobId: { type: 'string', minLength: 1, maxLength: MAX_JOB_ID } }, required: ['jobId'] } },
    },
    async (request, reply) => {
      if (!(await retryFailedDelivery(queue(), request.params.jobId))) {
        throw new TwinError('TWIN_ERR_NOT_FOUND', `no failed webhook delivery has job id ${JSON.stringify(request.params.jobId)}; GET /effects/failed lists them (URL-encode the id)`)
      }
      reply.status(202)
      return { retried: request.params.jobId }
    },
  )
}
