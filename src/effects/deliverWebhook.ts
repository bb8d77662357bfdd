import { UnrecoverableError, type Job } from 'bullmq'
import { TwinError } from '../errors.ts'
import { redactUrl, type Webhook } from './webhookConfig.ts'
import type { WebhookJob } from './webhookQueue.ts'

/**
 * The BullMQ processor of the `webhooks` queue: POSTs the derived event as
 * JSON to the URL the webhook has in the current WEBHOOKS_FILE (the job holds
 * only the webhook's name, so a retry after a change of URL goes to the new
 * one, and a `?token=` in the URL never reaches Redis). Error messages, and so
 * logs and failedReason, show the URL redacted (redactUrl). Any answer other than 2xx, a timeout or a network
 * error throws TWIN_ERR_WEBHOOK_DELIVERY, and BullMQ retries the job with
 * exponential backoff until its attempts are used up; then it stays in the
 * failed set, which GET /effects/failed lists.
 *
 * Receivers de-duplicate with `x-twin-event-id`: delivery is at least once (a
 * receiver that answers 2xx after its timeout, or a worker that dies after the
 * POST and before BullMQ records the success, means a second POST).
 */
export function webhookProcessor(webhooks: readonly Webhook[]): (job: Job<WebhookJob>) => Promise<{ status: number }> {
  const byName = new Map(webhooks.map((w) => [w.name, w]))
  return async (job) => {
    const { webhook: name, event } = job.data
    const webhook = byName.get(name)
    // Removed from WEBHOOKS_FILE since it was enqueued: retrying cannot help.
    if (!webhook) throw new UnrecoverableError(`webhook "${name}" is no longer configured in WEBHOOKS_FILE; add it back and retry the job (POST /effects/failed/:jobId/retry)`)
    const shown = redactUrl(webhook.url)
    let res: Response
    try {
      res = await fetch(webhook.url, {
        method: 'POST',
        headers: { ...webhook.headers, 'content-type': 'application/json', 'x-twin-event-id': event.id, 'x-twin-webhook': name },
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(webhook.timeoutMs),
        redirect: 'manual',
      })
    } catch (err) {
      throw new TwinError('TWIN_ERR_WEBHOOK_DELIVERY', `POST ${shown}: ${describeFetchError(err, webhook.timeoutMs).replaceAll(webhook.url, shown)}`, { webhook: name, eventId: event.id })
    }
    // Read the body so the connection can be reused; a receiver's answer is not used.
    await res.arrayBuffer().catch(() => undefined)
    if (res.status < 200 || res.status > 299) {
      throw new TwinError('TWIN_ERR_WEBHOOK_DELIVERY', `POST ${shown}: HTTP ${res.status} ${res.statusText}`.trim(), { webhook: name, eventId: event.id, status: res.status })
    }
    return { status: res.status }
  }
}

function describeFetchError(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } }
  if (e?.name === 'TimeoutError') return `no answer within ${timeoutMs} ms (timeoutMs)`
  const cause = e?.cause?.code ?? e?.cause?.message
  return cause ? `${e.message} (${cause})` : String(e?.message ?? err)
}
