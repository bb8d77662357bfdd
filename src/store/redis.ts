import { Redis } from 'ioredis'
import { defineScripts, type ScriptCommands } from './scripts.ts'

export type RedisClient = Redis & ScriptCommands

/**
 * A Redis connection with the engine's scripts defined. Blocking reads
 * (XREAD BLOCK) need a connection of their own: use `duplicate()`.
 */
export function connectRedis(url: string, name: string): RedisClient {
  const redis = new Redis(url, {
    connectionName: name,
    // Fail a command after a few reconnect attempts instead of queueing forever:
    // ingest must not PUBACK, and the shard loop must retry, not hang.
    maxRetriesPerRequest: 3,
    enableAutoPipelining: false,
  })
  defineScripts(redis)
  return redis as RedisClient
}

/** A second connection to the same server, scripts included (for blocking reads). */
export function duplicateRedis(redis: RedisClient, name: string): RedisClient {
  const copy = redis.duplicate({ connectionName: name })
  defineScripts(copy)
  return copy as RedisClient
}
