import type { Keys } from './keys.ts'
import type { RedisClient } from './redis.ts'

/**
 * The definition versions each worker runs (keys.ts `workerVersions`):
 * worker id -> JSON `{ "<type>": version }`. Workers write theirs with every
 * lease round; placement (cluster/shardLeases.ts) and GET /cluster read them.
 */
export type DefinitionVersions = Record<string, number>

export async function advertiseVersions(redis: RedisClient, keys: Keys, workerId: string, versions: DefinitionVersions): Promise<void> {
  await redis.hset(keys.workerVersions, workerId, JSON.stringify(versions))
}

export async function forgetVersions(redis: RedisClient, keys: Keys, workerIds: readonly string[]): Promise<void> {
  if (workerIds.length) await redis.hdel(keys.workerVersions, ...workerIds)
}

/** Every worker's advertised versions (dead workers' too, until a live one forgets them). */
export async function readWorkerVersions(redis: RedisClient, keys: Keys): Promise<Map<string, DefinitionVersions>> {
  const hash = await redis.hgetall(keys.workerVersions)
  const out = new Map<string, DefinitionVersions>()
  for (const [worker, json] of Object.entries(hash)) {
    try {
      out.set(worker, JSON.parse(json) as DefinitionVersions)
    } catch {
      // unreadable: counts as knowing nothing
    }
  }
  return out
}
