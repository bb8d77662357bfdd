import { Cluster, Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { RedisClient } from '../store/redis.ts'

/**
 * A connection of BullMQ's own, to the same Redis or Redis Cluster as the
 * engine's connection `from` (so it follows REDIS_URL / REDIS_CLUSTER without
 * re-reading settings). BullMQ gets its own connections because it defines its
 * own scripts and a worker blocks (BZPOPMIN).
 *
 * `blocking` (a BullMQ Worker): `maxRetriesPerRequest: null`, which BullMQ
 * requires so its blocking fetch survives reconnects. Otherwise (a Queue that
 * enqueues from the outbox relay or reads the dead-letter view): fail a
 * command after a few reconnect attempts, as the engine's own connection does,
 * so the relay retries its batch later instead of hanging.
 *
 * Auto-pipelining is off: BullMQ pipelines itself (addBulk is one MULTI).
 * The caller closes it (BullMQ leaves connections it was given open).
 */
export function bullConnection(from: RedisClient, name: string, blocking: boolean, log?: Logger): Redis | Cluster {
  const maxRetriesPerRequest = blocking ? null : 3
  const conn = from instanceof Cluster
    ? from.duplicate(undefined, { enableAutoPipelining: false, redisOptions: { ...from.options.redisOptions, connectionName: name, maxRetriesPerRequest } })
    : (from as Redis).duplicate({ connectionName: name, enableAutoPipelining: false, maxRetriesPerRequest })
  if (log) conn.on('error', (err: Error) => log.warn({ err, connection: name }, 'Redis connection error; reconnecting'))
  return conn
}
