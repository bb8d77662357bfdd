import { randomUUID } from 'node:crypto'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Cluster, type Redis } from 'ioredis'
import { inject } from 'vitest'
import { pino } from 'pino'
import { loadTwinRegistry, type TwinRegistry } from '../../src/definitions/registry.ts'
import { Keys } from '../../src/store/keys.ts'
import { connectRedis, type RedisClient } from '../../src/store/redis.ts'

export const ROOT = join(fileURLToPath(import.meta.url), '../../..')
export const FIXTURE_TWINS = join(ROOT, 'test/fixtures/twins')
export const FIXTURE_RULES = join(ROOT, 'test/fixtures/rules')

/** The run's real redis-server (started by globalSetup). */
export function redisUrl(): string {
  return inject('redisUrl')
}

/** True in the `cluster` test project: Redis is a local 3-master Redis Cluster. */
export function redisCluster(): boolean {
  // Outside vitest (the load/ scripts reuse these helpers) there is no run-wide Redis.
  try {
    return inject('redisCluster') ?? false
  } catch {
    return false
  }
}

/** What an engine child process needs to reach the run's Redis. */
export function redisEnv(): Record<string, string> {
  return { REDIS_URL: redisUrl(), REDIS_CLUSTER: String(redisCluster()) }
}

/** A connection plus a fresh key prefix, so tests never see each other's data. */
export function freshRedis(): { redis: RedisClient; keys: Keys; prefix: string } {
  const prefix = `t${randomUUID().slice(0, 8)}:`
  return { redis: connectRedis(redisUrl(), 'test', redisCluster()), keys: new Keys(prefix), prefix }
}

/** Deletes every key under a prefix (tests clean up after themselves), on every master of a cluster. */
export async function dropPrefix(redis: RedisClient, prefix: string): Promise<void> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis as Redis]
  for (const node of nodes) {
    let cursor = '0'
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      for (const key of keys) await node.del(key)
      cursor = next
    } while (cursor !== '0')
  }
}

export const silentLog = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })

export function fixtureRegistry(): Promise<TwinRegistry> {
  return loadTwinRegistry(FIXTURE_TWINS, FIXTURE_RULES)
}

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Polls `check` until it returns a truthy value; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value) return value as NonNullable<T>
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}
