import { randomUUID } from 'node:crypto'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { Logger } from 'pino'
import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import type { Drivers } from '../core/drivers.ts'
import type { Webhook } from '../effects/webhookConfig.ts'
import { startWebhookEffects, type WebhookEffects } from '../effects/webhookEffects.ts'
import type { ChangeBus } from '../feed/changeBus.ts'
import { startAdminJobs } from '../jobs/migrateJob.ts'
import { ChangeFeedPublisher } from '../feed/changeFeed.ts'
import type { Link } from '../observability/readiness.ts'
import type { Keys } from '../store/keys.ts'
import type { RedisClient } from '../store/redis.ts'
import { OutboxRelay } from '../worker/outboxRelay.ts'
import { RetentionKeeper, type RetentionBounds } from '../worker/retentionKeeper.ts'
import { Worker, type WorkerStats } from '../worker/worker.ts'

export type WorkerSettings = Pick<Config, 'batchSize' | 'batchLingerMs' | 'cacheSize' | 'leaseTtlMs' | 'historyLength' | 'deadLetterMaxLen' | 'outboxMaxLen' | 'webhookConcurrency'>

export interface WorkerRoleOptions {
  redis: RedisClient
  keys: Keys
  drivers: Drivers
  bus: ChangeBus
  clock: Clock
  log: Logger
  shards: number
  settings: WorkerSettings
  /** the broker the outbox relay publishes derived events and commands to; absent: no relay */
  mqtt?: { url: string; options?: IClientOptions }
  /** webhooks the relay hands derived events to (BullMQ jobs); none when empty */
  webhooks?: readonly Webhook[]
  /** publish each step's changes on the Redis change feed, for API processes elsewhere */
  feed?: boolean
  /** how long a step's commits took: the commit latency metric */
  onCommit?: (seconds: number, shards: number) => void
  /** take admin jobs (twin migrate) from the BullMQ admin queue */
  adminJobs?: boolean
  /** keep the input each shard applies, with base snapshots, for what-if replay (ADR 0012); absent: off */
  retention?: RetentionBounds
}

/** The worker role of one process: the shard loop, and the relay of the shards it owns. */
export interface WorkerRole {
  readonly worker: Worker
  readonly relay?: OutboxRelay
  /** the relay's broker connection, when there is a relay */
  readonly links: readonly Link[]
  stats(): { id: string; ownedShards: number; activeTwins: number } & WorkerStats
  /** commits the batch in flight and hands the shards over, then stops the relay and its connections */
  stop(): Promise<void>
}

/**
 * Starts a worker and its outbox relay, wired so that the relay follows the
 * worker's shards: it relays a shard only while the worker owns it, resumes
 * from the shard's own mark when it gains one, and is woken by each commit
 * that wrote to an outbox. The engine, the load tools and the tests all
 * start workers through here.
 */
export async function startWorkerRole(o: WorkerRoleOptions): Promise<WorkerRole> {
  const stops: Array<() => Promise<unknown>> = []
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch((err: Error) => o.log.error({ err }, 'error while stopping the worker role'))
  }
  try {
    const relay = o.mqtt ? await startRelay(o, stops) : undefined
    const feed = o.feed ? new ChangeFeedPublisher(o.redis, o.keys, o.bus) : undefined
    if (feed) stops.push(async () => feed.stop())
    const worker = new Worker({
      redis: o.redis, keys: o.keys, drivers: o.drivers, bus: o.bus, clock: o.clock, log: o.log, shards: o.shards,
      batchSize: o.settings.batchSize,
      lingerMs: o.settings.batchLingerMs,
      cacheSize: o.settings.cacheSize,
      leaseTtlMs: o.settings.leaseTtlMs,
      historyLength: o.settings.historyLength,
      deadLetterMaxLen: o.settings.deadLetterMaxLen,
      onOutbox: relay && ((shard) => relay.relay.notify(shard)),
      onAcquire: relay && ((shard) => relay.relay.resume(shard)),
      onRelease: relay && ((shard) => relay.relay.forget(shard)),
      onCommit: o.onCommit,
      feed,
      retainInput: o.retention !== undefined,
    })
    await worker.start()
    stops.push(() => worker.stop())
    if (o.retention) {
      const keeper = new RetentionKeeper({ redis: o.redis, keys: o.keys, clock: o.clock, log: o.log, bounds: o.retention, owned: () => worker.ownedShards })
      keeper.start()
      stops.push(() => keeper.stop())
    }
    if (o.adminJobs) {
      const jobs = await startAdminJobs({ redis: o.redis, keys: o.keys, shards: o.shards, drivers: o.drivers, log: o.log })
      stops.push(() => jobs.stop())
    }
    const links: Link[] = relay ? [{ name: 'the outbox relay', connected: () => relay.publisher.connected }] : []
    return {
      worker,
      relay: relay?.relay,
      links,
      stats: () => ({ id: worker.id, ownedShards: worker.ownedShards.length, activeTwins: worker.cache.size, ...worker.stats }),
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}

/** The relay's broker connection, webhook effects and the relay itself; their stops are pushed in start order. */
async function startRelay(o: WorkerRoleOptions, stops: Array<() => Promise<unknown>>): Promise<{ relay: OutboxRelay; publisher: MqttClient }> {
  const publisher = await mqtt.connectAsync(o.mqtt!.url, { clientId: `twin-engine-relay-${randomUUID().slice(0, 8)}`, ...o.mqtt!.options })
  // Forced: QoS 1 publishes a down broker never acknowledges must not hold up shutdown.
  stops.push(() => publisher.endAsync(true))
  // Stopped after the relay (stops run in reverse), which enqueues into it.
  let effects: WebhookEffects | undefined
  if (o.webhooks?.length) {
    effects = await startWebhookEffects({ redis: o.redis, keys: o.keys, webhooks: o.webhooks, concurrency: o.settings.webhookConcurrency, log: o.log })
    stops.push(() => effects!.stop())
  }
  const relay = new OutboxRelay(o.redis, o.keys, publisher, o.log, { shards: o.shards, outboxMaxLen: o.settings.outboxMaxLen, sinks: effects ? [effects.sink] : [] })
  stops.push(() => relay.stop())
  return { relay, publisher }
}
