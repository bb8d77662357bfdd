import { Cluster, Redis } from 'ioredis'
import type { Logger } from 'pino'
import { defineScripts, type ScriptCommands } from './scripts.ts'

/** A standalone Redis or a Redis Cluster client, with the engine's scripts. */
export type RedisClient = (Redis | Cluster) & ScriptCommands

/**
 * Connects to Redis, or to Redis Cluster when `cluster` is set (then `url` is a
 * comma-separated list of seed nodes).
 *
 * Auto-pipelining is on: commands issued in the same tick go out in one
 * pipeline per node. The engine issues its batched round trips as
 * `Promise.all` of plain commands, which is the only batching that works
 * unchanged on Redis Cluster (an explicit ioredis pipeline must stay on one
 * node). Blocking reads (XREAD BLOCK) need a connection of their own: `duplicateRedis`.
 */
export function connectRedis(url: string, name: string, cluster = false, log?: Logger, more: ConnectOptions = {}): RedisClient {
  // Fail a command after a few reconnect attempts instead of queueing forever:
  // the shard loop must retry, not hang. Ingest's own connection queues
  // instead (maxRetriesPerRequest null): its writes wait out an outage, in
  // order, with their PUBACKs (src/ingest/backpressure.ts).
  // Reconnect attempts at most 500 ms apart, so the engine resumes soon after Redis returns.
  const options = { connectionName: name, maxRetriesPerRequest: 3, retryStrategy: (times: number) => Math.min(times * 50, 500), ...more }
  const redis = cluster
    ? new Cluster(url.split(',').map((node) => node.trim()), { enableAutoPipelining: true, redisOptions: options })
    : new Redis(url, { ...options, enableAutoPipelining: true })
  defineScripts(redis)
  // ioredis reconnects by itself; say so in the log instead of as an unhandled error event,
  // once per 10 s: during an outage it retries every 500 ms on every connection.
  if (log) redis.on('error', throttled((err: Error) => log.warn({ err, connection: name }, 'Redis connection error; reconnecting')))
  return redis as RedisClient
}

function throttled(fn: (err: Error) => void, ms = 10_000): (err: Error) => void {
  let last = 0
  return (err) => {
    if (Date.now() - last < ms) return
    last = Date.now()
    fn(err)
  }
}

export interface ConnectOptions {
  /** null: a command waits for the connection however long it takes */
  maxRetriesPerRequest?: number | null
  /** rediss:// and Redis Cluster over TLS: CA, certificate and key (src/tls/files.ts) */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer }
}

/** A second connection to the same server or cluster, scripts included. */
export function duplicateRedis(redis: RedisClient, name: string): RedisClient {
  const copy = redis instanceof Cluster ? redis.duplicate() : redis.duplicate({ connectionName: name, enableAutoPipelining: false })
  defineScripts(copy)
  for (const listener of redis.listeners('error')) copy.on('error', listener as (err: Error) => void)
  return copy as RedisClient
}

export function isCluster(redis: RedisClient): boolean {
  return redis instanceof Cluster
}
