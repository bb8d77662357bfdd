import { Queue, type Job, type JobsOptions } from 'bullmq'
import type { Cluster, Redis } from 'ioredis'
import type { DerivedSink } from '../runtime/outboxRelay.ts'
import type { DerivedEvent } from '../runtime/shardBatch.ts'
import type { Keys } from '../store/keys.ts'
import type { Webhook } from './webhookConfig.ts'

/** The one BullMQ queue of webhook deliveries (ADR 0008). */
export const WEBHOOK_QUEUE = 'webhooks'

/** A delivery: one derived event to one webhook. Headers stay in the config, out of Redis (they may hold secrets). */
export interface WebhookJob {
  webhook: string
  url: string
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
          data: { webhook: webhook.name, url: webhook.url, event },
          opts: {
            jobId: webhookJobId(webhook.name, event.id),
            attempts: webhook.attempts,
            backoff: { type: 'exponential', delay: webhook.backoffMs },
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
  url: string
  event: DerivedEvent
  attempts: number
  failedReason: string
  /** ms since the epoch */
  failedAt: number | null
}

/** The dead-letter view: deliveries that used up their attempts, newest first. */
export async function listFailedDeliveries(queue: WebhookQueue, offset: number, limit: number): Promise<{ failed: FailedDelivery[]; total: number }> {
  const [jobs, total] = await Promise.all([queue.getFailed(offset, offset + limit - 1), queue.getFailedCount()])
  return { failed: jobs.filter(Boolean).map(toFailedDelivery), total }
}

function toFailedDelivery(job: Job<WebhookJob>): FailedDelivery {
  return {
    jobId: job.id!,
    webhook: job.data.webhook,
    url: job.data.url,
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
