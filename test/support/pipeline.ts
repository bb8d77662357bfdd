import { dropPrefix, fixtureRegistry, freshRedis, silentLog } from './env.ts'
import { Drivers } from '../../src/core/drivers.ts'
import type { TwinRegistry } from '../../src/definitions/registry.ts'
import { ChangeBus } from '../../src/feed/changeBus.ts'
import { Ingestor } from '../../src/ingest/ingestor.ts'
import type { DerivedEvent, TwinView } from '../../src/model/record.ts'
import { startWorkerRole, type WorkerRole } from '../../src/roles/workerRole.ts'
import { ensureShardCount } from '../../src/store/clusterMeta.ts'
import type { Keys } from '../../src/store/keys.ts'
import type { RedisClient } from '../../src/store/redis.ts'
import { TwinStore } from '../../src/store/twinStore.ts'
import { OutboxRelay } from '../../src/worker/outboxRelay.ts'
import type { RetentionBounds } from '../../src/worker/retentionKeeper.ts'
import { Worker } from '../../src/worker/worker.ts'

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
  /** present when started with `mqttUrl`: relays the first worker's outboxes (derived events, rule feeds, commands) */
  relay?: OutboxRelay
  shards: number
  /** the next `inc` of counter `id` (seq 1, 2, … per counter), through the real ingest */
  inc(id: string): Promise<unknown>
  /** starts another worker role on the same data (e.g. after stopping the first), with its own relay when `mqttUrl` was given */
  newWorker(overrides?: Partial<{ cacheSize: number; leaseTtlMs: number; onCommit: (seconds: number, shards: number) => void }>): Promise<Worker>
  stop(): Promise<void>
}

/** Ingestor + worker role (worker and relay, as the engine wires them) + store on a real Redis, under a fresh key prefix. */
export async function startPipeline(
  options: { cacheSize?: number; leaseTtlMs?: number; shards?: number; registry?: TwinRegistry; mqttUrl?: string; retention?: RetentionBounds } = {},
): Promise<Pipeline> {
  const { redis, keys, prefix } = freshRedis()
  const shards = await ensureShardCount(redis, keys, options.shards ?? 8)
  const registry = options.registry ?? (await fixtureRegistry())
  const drivers = new Drivers(registry)
  const bus = new ChangeBus()
  const changes: TwinView[] = []
  const derived: DerivedEvent[] = []
  bus.onChange((v) => changes.push(v))
  bus.onDerived((d) => derived.push(d))
  const ingestor = new Ingestor({ redis, keys, registry, shards, maxPayloadBytes: 4096, deadLetterMaxLen: 1000, log: silentLog })
  const roles: WorkerRole[] = []
  const seqs = new Map<string, number>()
  const newWorker = async (overrides: Partial<{ cacheSize: number; leaseTtlMs: number; onCommit: (seconds: number, shards: number) => void }> = {}) => {
    const role = await startWorkerRole({
      redis, keys, drivers, bus, clock: { now: () => Date.now() }, log: silentLog, shards,
      settings: {
        batchSize: 500, batchLingerMs: 2, cacheSize: overrides.cacheSize ?? options.cacheSize ?? 1000, leaseTtlMs: overrides.leaseTtlMs ?? options.leaseTtlMs ?? 2000,
        historyLength: 10, deadLetterMaxLen: 1000, outboxMaxLen: 10_000, webhookConcurrency: 1,
      },
      mqtt: options.mqttUrl ? { url: options.mqttUrl, options: { reconnectPeriod: 100 } } : undefined,
      onCommit: overrides.onCommit,
      retention: options.retention,
    })
    roles.push(role)
    return role.worker
  }
  const worker = await newWorker()
  return {
    redis, keys, prefix, registry, ingestor, bus, changes, derived, worker, relay: roles[0]!.relay, shards, newWorker,
    inc: (id) => {
      const seq = (seqs.get(id) ?? 0) + 1
      seqs.set(id, seq)
      return ingestor.fromApi('counter', id, 'inc', JSON.stringify({ seq }))
    },
    store: new TwinStore(redis, keys, shards),
    async stop() {
      for (const role of roles) await role.stop().catch(() => undefined)
      await dropPrefix(redis, prefix)
      await redis.quit()
    },
  }
}
