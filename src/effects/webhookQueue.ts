import { Queue, type BackoffStrategy, type Job, type JobsOptions } from 'bullmq'
import type { Cluster, Redis } from 'ioredis'
import { redactUrl, type Webhook } from './webhookConfig.ts'
import type { DerivedEvent } from '../model/record.ts'
import type { Keys } from '../store/keys.ts'
import type { DerivedSink } from '../worker/outboxRelay.ts'

/** The one BullMQ queue of webhook deliveries (ADR 0008). */
export const WEBHOOK_QUEUE = 'webhooks'

/**
 * A delivery: one derived event to one webhook, by name. The URL and headers
 * stay in the config, out of Redis (they may hold secrets), and are looked up
 * at delivery time. Jobs enqueued by older versions also carry `url`; it is
 * ignored.
 */
export interface WebhookJob {
  webhook: string
  event: DerivedEvent
}

export type WebhookQueue = Queue<WebhookJob>

/**
 * Completed jobs are kept a day (at most 10,000) so that their ids still
 * de-duplicate a batch the relay hands over again (after a crash between the
 * enqueue and its mark). Failed jobs are the dead-letter view: the newest
 * 10,000 are kept.
 */
export const KEEP_COMPLETED = { age: 24 * 3600, count: 10_000 }
export const KEEP_FAILED = { count: 10_000 }

/** The queue, under KEY_PREFIX inside one hash tag (keys.effectsQueuePrefix): one Redis Cluster slot. */
export function openWebhookQueue(connection: Redis | Cluster, keys: Keys): WebhookQueue {
  return new Queue<WebhookJob>(WEBHOOK_QUEUE, { connection, prefix: keys.effectsQueuePrefix })
}

/** The longest wait between two tries of a delivery (docs/effects.md). */
export const MAX_RETRY_DELAY_MS = 3_600_000

/** The backoff type of webhook jobs, computed by webhookBackoff in the worker. */
export const WEBHOOK_BACKOFF = 'webhook-exponential'

/**
 * The worker's backoffStrategy: BullMQ's exponential backoff (`delay ×
 * 2^(n-1)` before retry n), each wait capped at MAX_RETRY_DELAY_MS. Without
 * the cap, backoffMs 1 h and 20 attempts would wait 2^18 hours before the last.
 */
export const webhookBackoff: BackoffStrategy = (attemptsMade, _type, _err, job) => {
  const backoff = job?.opts.backoff
  const base = typeof backoff === 'number' ? backoff : backoff?.delay ?? 0
  return Math.min(Math.round(base * 2 ** (attemptsMade - 1)), MAX_RETRY_DELAY_MS)
}

/**
 * The job id of a delivery: the webhook's name and the derived event's stable
 * id, so the same event enqueued twice for one webhook is one job. BullMQ
 * refuses `:` in custom ids, and event ids contain it: `%` and `:` are escaped.
 */
export function webhookJobId(webhook: string, eventId: string): string {
  return `${webhook}~${eventId.replaceAll('%', '%25').replaceAll(':', '%3A')}`
}

/**
 * The outbox relay's sink: enqueues one job per (matching event, webhook) in
 * one addBulk round trip, and never waits for a delivery. Idempotent by job id.
 */
export function webhookSink(queue: WebhookQueue, webhooks: readonly Webhook[]): DerivedSink {
  return async (events) => {
    const jobs: Array<{ name: string; data: WebhookJob; opts: JobsOptions }> = []
    for (const event of events) {
      for (const webhook of webhooks) {
        if (!webhook.matches(event)) continue
        jobs.push({
          name: webhook.name,
          data: { webhook: webhook.name, event },
          opts: {
            jobId: webhookJobId(webhook.name, event.id),
            attempts: webhook.attempts,
            backoff: { type: WEBHOOK_BACKOFF, delay: webhook.backoffMs },
            removeOnComplete: KEEP_COMPLETED,
            removeOnFail: KEEP_FAILED,
          },
        })
      }
    }
    if (jobs.length) await queue.addBulk(jobs)
  }
}

/** One entry of GET /effects/failed. */
export interface FailedDelivery {
  jobId: string
  webhook: string
  /** the webhook's URL in this process's WEBHOOKS_FILE, redacted; null when it has none by that name */
  url: string | null
  event: DerivedEvent
  attempts: number
  failedReason: string
  /** ms since the epoch */
  failedAt: number | null
}

/** The dead-letter view: deliveries that used up their attempts, newest first; `webhooks` is the current config. */
export async function listFailedDeliveries(queue: WebhookQueue, offset: number, limit: number, webhooks: readonly Webhook[]): Promise<{ failed: FailedDelivery[]; total: number }> {
  const [jobs, total] = await Promise.all([queue.getFailed(offset, offset + limit - 1), queue.getFailedCount()])
  const urls = new Map(webhooks.map((w) => [w.name, redactUrl(w.url)]))
  return { failed: jobs.filter(Boolean).map((job) => toFailedDelivery(job, urls.get(job.data.webhook) ?? null)), total }
}

function toFailedDelivery(job: Job<WebhookJob>, url: string | null): FailedDelivery {
  return {
    jobId: job.id!,
    webhook: job.data.webhook,
    url,
    event: job.data.event,
    attempts: job.attemptsMade,
    failedReason: job.failedReason,
    failedAt: job.finishedOn ?? null,
  }
}

/** Puts a failed delivery back in the queue with a fresh set of attempts. False when no failed job has this id. */
export async function retryFailedDelivery(queue: WebhookQueue, jobId: string): Promise<boolean> {
  const job = await queue.getJob(jobId)
  if (!job || (await job.getState()) !== 'failed') return false
  await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true })
  return true
}
