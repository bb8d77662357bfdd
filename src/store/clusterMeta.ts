import { TwinError } from '../errors.ts'
import type { Keys } from './keys.ts'
import type { RedisClient } from './redis.ts'

/**
 * The shard count is fixed when a data set is first used (DESIGN.md decision 1):
 * every twin's home shard depends on it. Records it on first start, and refuses
 * to run with a different one afterwards.
 */
export async function ensureShardCount(redis: RedisClient, keys: Keys, configured: number): Promise<number> {
  await redis.hsetnx(keys.cluster, 'shards', configured)
  const stored = Number(await redis.hget(keys.cluster, 'shards'))
  if (stored !== configured) {
    throw new TwinError(
      'TWIN_ERR_SHARD_COUNT',
      `this Redis data set was created with SHARDS=${stored}, but SHARDS=${configured} is set; set SHARDS=${stored} (changing it needs a migration), or use another Redis / DATA_DIR`,
    )
  }
  return stored
}

/** The shard count a data set was created with; undefined when no engine has used it yet. */
export async function readShardCount(redis: RedisClient, keys: Keys): Promise<number | undefined> {
  const stored = await redis.hget(keys.cluster, 'shards')
  return stored === null ? undefined : Number(stored)
}
