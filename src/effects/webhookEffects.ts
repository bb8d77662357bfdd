import { Worker as BullWorker } from 'bullmq'
import type { Logger } from 'pino'
import { bullConnection } from './bullConnection.ts'
import { webhookProcessor } from './deliverWebhook.ts'
import type { Webhook } from './webhookConfig.ts'
import { openWebhookQueue, WEBHOOK_QUEUE, webhookBackoff, webhookSink, type WebhookJob, type WebhookQueue } from './webhookQueue.ts'
import type { Keys } from '../store/keys.ts'
import type { RedisClient } from '../store/redis.ts'
import type { DerivedSink } from '../worker/outboxRelay.ts'

export interface WebhookEffects {
  /** for the outbox relay: enqueues the deliveries of a batch of derived events */
  readonly sink: DerivedSink
  readonly queue: WebhookQueue
  /** deliveries this process made / gave up on */
  readonly stats: { delivered: number; failed: number }
  /** stops taking jobs, waits for the deliveries in flight, closes the connections */
  stop(): Promise<void>
}

export interface WebhookEffectsOptions {
  redis: RedisClient
  keys: Keys
  webhooks: readonly Webhook[]
  /** deliveries in flight at once in this process (WEBHOOK_CONCURRENCY) */
  concurrency: number
  log: Logger
}

/**
 * Webhooks in a worker-role process (ADR 0008): a queue the outbox relay's sink
 * enqueues into, and a BullMQ Worker that delivers. The shard loop never waits
 * on either: the relay runs beside it, and the sink only enqueues.
 */
export async function startWebhookEffects(options: WebhookEffectsOptions): Promise<WebhookEffects> {
  const { redis, keys, webhooks, concurrency } = options
  const log = options.log.child({ component: 'webhooks' })
  const queueConnection = bullConnection(redis, 'twin-effects-queue', false, log)
  const workerConnection = bullConnection(redis, 'twin-effects-worker', true, log)
  const queue = openWebhookQueue(queueConnection, keys)
  queue.on('error', (err) => log.warn({ err }, 'webhook queue error'))
  const longestTimeout = Math.max(...webhooks.map((w) => w.timeoutMs))
  const worker = new BullWorker<WebhookJob>(WEBHOOK_QUEUE, webhookProcessor(webhooks), {
    connection: workerConnection,
    prefix: keys.effectsQueuePrefix,
    concurrency,
    // A delivery holds its job's lock until it answers or times out.
    lockDuration: Math.max(30_000, 2 * longestTimeout),
    settings: { backoffStrategy: webhookBackoff },
  })
  const stats = { delivered: 0, failed: 0 }
  worker.on('error', (err) => log.warn({ err }, 'webhook worker error'))
  worker.on('completed', () => stats.delivered++)
  worker.on('failed', (job, err) => {
    if (!job) return
    const final = job.attemptsMade >= (job.opts.attempts ?? 1) || err.name === 'UnrecoverableError'
    if (final) stats.failed++
    log[final ? 'warn' : 'debug']({ webhook: job.data.webhook, eventId: job.data.event.id, attempt: job.attemptsMade, reason: err.message }, final ? 'webhook delivery failed for good; see GET /effects/failed' : 'webhook delivery failed; will retry')
  })
  await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()])
  log.info({ webhooks: webhooks.map((w) => w.name), concurrency }, 'webhooks started')
  return {
    sink: webhookSink(queue, webhooks),
    queue,
    stats,
    async stop() {
      await worker.close()
      await queue.close()
      await Promise.all([queueConnection.quit().catch(() => undefined), workerConnection.quit().catch(() => undefined)])
    },
  }
}
