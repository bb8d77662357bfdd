import mqtt from 'mqtt'
import { ChangeBus } from '../../src/feed/changeBus.ts'
import { OutboxRelay } from '../../src/worker/outboxRelay.ts'
import { Ingestor } from '../../src/ingest/ingestor.ts'
import { Drivers } from '../../src/core/drivers.ts'
import { Worker } from '../../src/worker/worker.ts'
import { ensureShardCount } from '../../src/store/clusterMeta.ts'
import type { Keys } from '../../src/store/keys.ts'
import type { RedisClient } from '../../src/store/redis.ts'
import { TwinStore } from '../../src/store/twinStore.ts'
import type { TwinRegistry } from '../../src/definitions/registry.ts'
import { dropPrefix, fixtureRegistry, freshRedis, silentLog } from './env.ts'
import type { DerivedEvent, TwinView } from '../../src/model/record.ts'

export interface Pipeline {
  redis: RedisClient
  keys: Keys
  prefix: string
  registry: TwinRegistry
  ingestor: Ingestor
  bus: ChangeBus
  store: TwinStore
  changes: TwinView[]
  derived: DerivedEvent[]
  worker: Worker
  /** present when started with `mqttUrl`: relays outboxes (derived events, rule feeds, commands) */
  relay?: OutboxRelay
  shards: number
  /** the next `inc` of counter `id` (seq 1, 2, … per counter), through the real ingest */
  inc(id: string): Promise<unknown>
  /** starts another worker on the same data (e.g. after stopping the first) */
  newWorker(overrides?: Partial<{ cacheSize: number; leaseTtlMs: number; onCommit: (seconds: number, shards: number) => void }>): Worker
  stop(): Promise<void>
}

/** Ingestor + worker + store on a real Redis, under a fresh key prefix. */
export async function startPipeline(
  options: { cacheSize?: number; leaseTtlMs?: number; shards?: number; registry?: TwinRegistry; mqttUrl?: string } = {},
): Promise<Pipeline> {
  const { redis, keys, prefix } = freshRedis()
  const shards = await ensureShardCount(redis, keys, options.shards ?? 8)
  const registry = options.registry ?? (await fixtureRegistry())
  const bus = new ChangeBus()
  const changes: TwinView[] = []
  const derived: DerivedEvent[] = []
  bus.onChange((v) => changes.push(v))
  bus.onDerived((d) => derived.push(d))
  const ingestor = new Ingestor({ redis, keys, registry, shards, maxPayloadBytes: 4096, deadLetterMaxLen: 1000, log: silentLog })
  const workers: Worker[] = []
  const seqs = new Map<string, number>()
  const publisher = options.mqttUrl ? await mqtt.connectAsync(options.mqttUrl, { reconnectPeriod: 100 }) : undefined
  const relay = publisher && new OutboxRelay(redis, keys, publisher, silentLog, { shards, outboxMaxLen: 10_000 })
  const newWorker = (overrides: Partial<{ cacheSize: number; leaseTtlMs: number; onCommit: (seconds: number, shards: number) => void }> = {}) => {
    const w = new Worker({
      redis, keys, drivers: new Drivers(registry), bus, clock: { now: () => Date.now() }, log: silentLog, shards,
      batchSize: 500, cacheSize: overrides.cacheSize ?? options.cacheSize ?? 1000, leaseTtlMs: overrides.leaseTtlMs ?? options.leaseTtlMs ?? 2000,
      historyLength: 10, deadLetterMaxLen: 1000, onCommit: overrides.onCommit,
      onOutbox: relay && ((shard) => relay.notify(shard)),
      onAcquire: relay && ((shard) => relay.resume(shard)),
      onRelease: relay && ((shard) => relay.forget(shard)),
    })
    workers.push(w)
    return w
  }
  const worker = newWorker()
  await worker.start()
  return {
    redis, keys, prefix, registry, ingestor, bus, changes, derived, worker, relay, shards, newWorker,
    inc: (id) => {
      const seq = (seqs.get(id) ?? 0) + 1
      seqs.set(id, seq)
      return ingestor.fromApi('counter', id, 'inc', JSON.stringify({ seq }))
    },
    store: new TwinStore(redis, keys, shards),
    async stop() {
      for (const w of workers) await w.stop().catch(() => undefined)
      await relay?.stop()
      await publisher?.endAsync(true)
      await dropPrefix(redis, prefix)
      await redis.quit()
    },
  }
}
