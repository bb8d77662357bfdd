import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { IngestGate } from '../ingest/backpressure.ts'
import type { TlsMaterial } from '../net/tlsFiles.ts'
import type { Keys } from '../store/keys.ts'
import { connectRedis, type RedisClient } from '../store/redis.ts'
import { RedisHealth } from '../store/redisHealth.ts'

export interface RedisFaults {
  health: RedisHealth
  gate: IngestGate
  /** ingest's own connection: its writes wait out an outage, in order, with their PUBACKs */
  ingestRedis: RedisClient
  /** what does not work now, for /health: Redis, then the MQTT links given */
  problems(links: ReadonlyArray<{ name: string; connected: () => boolean }>): string[]
  stop(): Promise<void>
}

/**
 * What one process needs to ride out Redis faults (issue 15, ADR 0042): the
 * health probe, the ingest gate, and ingest's own queueing connection.
 */
export async function startRedisFaults(o: { redis: RedisClient; url: string; cluster: boolean; tls?: TlsMaterial; keys: Keys; shards: number; inboxMaxLength: number; log: Logger }): Promise<RedisFaults> {
  const health = new RedisHealth({ redis: o.redis, probeKey: o.keys.healthProbe(randomUUID()), log: o.log })
  await health.start()
  const ingestRedis = connectRedis(o.url, 'twin-engine-ingest', o.cluster, o.log, { tls: o.tls, maxRetriesPerRequest: null })
  const gate = new IngestGate({ health, redis: o.redis, keys: o.keys, shards: o.shards, inboxMaxLength: o.inboxMaxLength, log: o.log })
  gate.start()
  return {
    health,
    gate,
    ingestRedis,
    problems: (links) => [
      ...(health.condition.status === 'up' ? [] : [`Redis: ${health.condition.reason}`]),
      ...links.filter((l) => !l.connected()).map((l) => `${l.name} is not connected to the MQTT broker`),
    ],
    stop: async () => {
      gate.stop()
      // QUIT would wait for Redis forever on this connection (it queues while Redis is away).
      if (ingestRedis.status === 'ready') await ingestRedis.quit().catch(() => undefined)
      ingestRedis.disconnect()
      await health.stop()
    },
  }
}
