import { createServer } from 'node:http'
import mqtt, { type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { startReceiver } from './httpReceiver.ts'
import { parseWebhooks } from '../../src/effects/webhookConfig.ts'
import { startWebhookEffects, type WebhookEffects } from '../../src/effects/webhookEffects.ts'
import { MAX_RETRY_DELAY_MS, webhookJobId } from '../../src/effects/webhookQueue.ts'
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/embedded/broker.ts'
import { shardOf, twinKey } from '../../src/model/ids.ts'
import type { DerivedEvent } from '../../src/model/record.ts'
import { META } from '../../src/store/shardMeta.ts'
import { OutboxRelay } from '../../src/worker/outboxRelay.ts'
import { startApi } from '../support/api.ts'
import { freePort, silentLog, waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'

let p: Pipeline | undefined
let broker: EmbeddedBroker | undefined
const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
  await broker?.close()
  broker = undefined
  await p?.stop()
  p = undefined
})

async function mqttClient(): Promise<MqttClient> {
  broker ??= await startEmbeddedBroker({ port: 0 })
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`)
  cleanups.push(() => c.endAsync(true))
  return c
}

/**
 * The whole path: ingest -> worker commit -> shard outbox -> relay
 * with the webhook sink -> BullMQ -> delivery to a real local HTTP receiver.
 */
async function webhookPipeline(hooks: unknown[]) {
  p = await startPipeline()
  const pipeline = p
  const webhooks = parseWebhooks(hooks)
  const effects = await startWebhookEffects({ redis: p.redis, keys: p.keys, webhooks, concurrency: 4, log: silentLog })
  cleanups.push(() => effects.stop())
  const newRelay = async () => {
    const relay = new OutboxRelay(pipeline.redis, pipeline.keys, await mqttClient(), silentLog, { shards: pipeline.shards, outboxMaxLen: 1000, sinks: [effects.sink] })
    cleanups.push(() => relay.stop())
    return relay
  }
  const relay = await newRelay()
  /** Ingests one `inc` event, waits for its commit, relays its shard; returns the derived event. */
  const inc = async (id: string, seq: number): Promise<DerivedEvent> => {
    await pipeline.ingestor.fromApi('counter', id, 'inc', JSON.stringify({ seq }))
    await waitFor(`${id} rev ${seq}`, async () => (await pipeline.store.get('counter', id))?.rev === seq)
    relay.notify(shardOf(twinKey('counter', id), pipeline.shards))
    return waitFor(`derived event of ${id}`, () => pipeline.derived.find((d) => d.twinId === id && d.data.seq === seq))
  }
  return { p: pipeline, webhooks, effects, relay, newRelay, inc }
}

/** Jobs per state: with nothing waiting, active or delayed, no further delivery can happen. */
function settled(effects: WebhookEffects): Promise<Record<string, number>> {
  return effects.queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'completed', 'failed')
}

describe('webhooks on BullMQ', () => {
  it('a receiver that answers 500 three times, then 200: delivered exactly once, after the retries', async () => {
    const receiver = await startReceiver((_id, nth) => (nth <= 3 ? 500 : 200))
    cleanups.push(() => receiver.close())
    const { effects, inc } = await webhookPipeline([
      { name: 'ops-alerts', url: receiver.url, events: ['counter.counted'], attempts: 8, backoffMs: 20, headers: { authorization: 'Bearer s3cret' } },
      { name: 'never', url: receiver.url, events: ['elevator.*', '*.rang'] },
    ])

    const event = await inc('w1', 1)

    await waitFor('delivered', () => receiver.delivered().length === 1)
    await waitFor('job completed', async () => (await settled(effects)).completed === 1)
    expect(receiver.log.map((r) => [r.eventId, r.status])).toEqual([[event.id, 500], [event.id, 500], [event.id, 500], [event.id, 200]])
    const [delivery] = receiver.delivered()
    expect(delivery!.body).toEqual(event)
    expect(delivery!.body).toMatchObject({ type: 'counter', twinId: 'w1', name: 'counted', data: { seq: 1 } })
    expect(delivery!.headers).toMatchObject({ 'content-type': 'application/json', 'x-twin-event-id': event.id, 'x-twin-webhook': 'ops-alerts', authorization: 'Bearer s3cret' })
    // Nothing left that could deliver again; the non-matching webhook got no job.
    expect(await settled(effects)).toMatchObject({ wait: 0, active: 0, delayed: 0, prioritized: 0, completed: 1, failed: 0 })
    expect(effects.stats).toEqual({ delivered: 1, failed: 0 })
    // Configured headers are read from the file at delivery time, never stored in Redis.
    const job = await effects.queue.getJob(webhookJobId('ops-alerts', event.id))
    expect(job!.data).toEqual({ webhook: 'ops-alerts', event })
    expect(JSON.stringify(job!.data)).not.toContain('s3cret')
  })

  it('the same derived event handed over again (a relay re-delivery after a crash) is delivered once', async () => {
    const receiver = await startReceiver(() => 204)
    cleanups.push(() => receiver.close())
    const { p, effects, newRelay, inc } = await webhookPipeline([{ name: 'audit', url: receiver.url, events: ['counter.*'], backoffMs: 10 }])
    const first = await inc('w2', 1)
    await waitFor('delivered', () => receiver.delivered().length === 1)
    await waitFor('job completed', async () => (await settled(effects)).completed === 1)

    // A relay that crashed before moving its mark hands the same batch over again.
    const shard = shardOf(twinKey('counter', 'w2'), p.shards)
    await p.redis.hdel(p.keys.shard(shard).meta, META.relayed, META.routed)
    const again = await newRelay()
    again.resume(shard)
    await waitFor('handed to the sinks again', async () => (await p.redis.hget(p.keys.shard(shard).meta, META.routed)) !== null)
    // Directly too, while the next event's job may still be pending.
    const second = await inc('w2', 2)
    await effects.sink([first, second, second])

    await waitFor('second delivered', () => receiver.delivered().length === 2)
    await waitFor('both completed', async () => (await settled(effects)).completed === 2)
    expect(await settled(effects)).toMatchObject({ wait: 0, active: 0, delayed: 0, prioritized: 0, completed: 2, failed: 0 })
    expect(receiver.log.map((r) => r.eventId)).toEqual([first.id, second.id])
    expect(await effects.queue.getJob(webhookJobId('audit', first.id))).toMatchObject({ data: { event: first } })
  })

  it('a receiver that does not answer within timeoutMs fails; a job of a webhook no longer configured fails without retries', async () => {
    const hanging = createServer(() => undefined)
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((resolve) => {
      hanging.closeAllConnections()
      hanging.close(resolve)
    }))
    const url = `http://127.0.0.1:${(hanging.address() as { port: number }).port}/slow`
    const { effects } = await webhookPipeline([{ name: 'slow', url, events: ['counter.counted'], attempts: 1, timeoutMs: 100 }])
    const event: DerivedEvent = { id: '1700000000000-0:0', type: 'counter', twinId: 'x', name: 'counted', at: 1700000000000, data: {} }
    await effects.sink([event])
    // Enqueued by an engine whose WEBHOOKS_FILE still had it.
    await effects.queue.add('removed', { webhook: 'removed', event }, { jobId: webhookJobId('removed', event.id), attempts: 5, backoff: { type: 'fixed', delay: 10 } })

    await waitFor('both failed', async () => (await settled(effects)).failed === 2)
    const slow = await effects.queue.getJob(webhookJobId('slow', event.id))
    expect(slow).toMatchObject({ attemptsMade: 1, failedReason: `POST ${url}: no answer within 100 ms (timeoutMs)` })
    const removed = await effects.queue.getJob(webhookJobId('removed', event.id))
    expect(removed).toMatchObject({ attemptsMade: 1, failedReason: expect.stringContaining('webhook "removed" is no longer configured in WEBHOOKS_FILE') })
  })

  it('waits backoffMs × 2^(n-1) before retry n, but never more than an hour', async () => {
    const receiver = await startReceiver(() => 503)
    cleanups.push(() => receiver.close())
    const { effects } = await webhookPipeline([{ name: 'slow-backoff', url: receiver.url, events: ['counter.counted'], attempts: 4, backoffMs: 2_400_000 }])
    const event: DerivedEvent = { id: '1700000000000-0:7', type: 'counter', twinId: 'b', name: 'counted', at: 1700000000000, data: {} }
    await effects.sink([event])
    const jobId = webhookJobId('slow-backoff', event.id)
    /** Waits for the nth failure to be scheduled, returns its delay and runs the retry now. */
    const nextDelay = async (nth: number): Promise<number> => {
      await waitFor(`failure ${nth} delayed`, async () => receiver.log.length === nth && (await effects.queue.getJob(jobId))?.attemptsMade === nth && (await effects.queue.getJobState(jobId)) === 'delayed')
      const job = (await effects.queue.getJob(jobId))!
      const { delay } = job
      await job.promote()
      return delay
    }
    // 40 min, then 80 min capped to 60, then 160 min capped to 60.
    expect([await nextDelay(1), await nextDelay(2), await nextDelay(3)]).toEqual([2_400_000, MAX_RETRY_DELAY_MS, MAX_RETRY_DELAY_MS])
    await waitFor('failed for good', async () => (await settled(effects)).failed === 1)
    expect(receiver.log).toHaveLength(4)
  })

  it('a receiver that always fails ends in GET /effects/failed after its attempts; retry delivers it', async () => {
    let healthy = false
    const receiver = await startReceiver(() => (healthy ? 200 : 503))
    cleanups.push(() => receiver.close())
    const closedPort = await freePort()
    const { p, webhooks, effects, inc } = await webhookPipeline([
      { name: 'flaky', url: receiver.url, events: ['counter.counted'], attempts: 3, backoffMs: 10 },
      { name: 'gone', url: `http://127.0.0.1:${closedPort}/x`, events: ['counter.counted'], attempts: 2, backoffMs: 10 },
    ])
    const api = await startApi(p, { webhooks })
    cleanups.push(() => api.app.close())

    expect((await api.app.inject({ method: 'GET', url: '/effects/failed' })).json()).toEqual({ failed: [], total: 0 })
    const event = await inc('w3', 1)
    await waitFor('both failed for good', async () => (await settled(effects)).failed === 2)

    const res = await api.app.inject({ method: 'GET', url: '/effects/failed?limit=10' })
    expect(res.statusCode).toBe(200)
    const body = res.json() as { failed: Array<Record<string, any>>; total: number }
    expect(body.total).toBe(2)
    const byHook = Object.fromEntries(body.failed.map((f) => [f.webhook, f]))
    expect(byHook.flaky).toEqual({
      jobId: webhookJobId('flaky', event.id), webhook: 'flaky', url: receiver.url, event, attempts: 3,
      failedReason: `POST ${receiver.url}: HTTP 503 Service Unavailable`, failedAt: expect.any(Number),
    })
    expect(byHook.gone).toMatchObject({ attempts: 2, failedReason: expect.stringContaining('ECONNREFUSED') })
    expect(receiver.log.map((r) => r.status)).toEqual([503, 503, 503])
    expect(effects.stats).toEqual({ delivered: 0, failed: 2 })
    // Paging.
    const page = (await api.app.inject({ method: 'GET', url: '/effects/failed?limit=1&offset=1' })).json() as { failed: unknown[] }
    expect(page.failed).toHaveLength(1)
    expect((await api.app.inject({ method: 'GET', url: '/effects/failed?limit=0' })).json()).toMatchObject({ error: { code: 'TWIN_ERR_BAD_REQUEST' } })

    // The receiver is fixed: an operator retries the dead letter.
    healthy = true
    const retry = await api.app.inject({ method: 'POST', url: `/effects/failed/${encodeURIComponent(byHook.flaky.jobId)}/retry` })
    expect(retry.statusCode).toBe(202)
    await waitFor('delivered after retry', () => receiver.delivered().length === 1)
    await waitFor('no longer failed', async () => (await settled(effects)).failed === 1)
    const after = (await api.app.inject({ method: 'GET', url: '/effects/failed' })).json() as { failed: Array<{ webhook: string }> }
    expect(after.failed.map((f) => f.webhook)).toEqual(['gone'])
    expect(receiver.delivered().map((r) => r.eventId)).toEqual([event.id])

    const missing = await api.app.inject({ method: 'POST', url: `/effects/failed/${encodeURIComponent(byHook.flaky.jobId)}/retry` })
    expect(missing.statusCode).toBe(404)
    expect(missing.json()).toMatchObject({ error: { code: 'TWIN_ERR_NOT_FOUND' } })
  })
})
