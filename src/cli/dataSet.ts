import type { Logger } from 'pino'
import type { Config } from '../config.ts'
import { Drivers } from '../core/drivers.ts'
import { loadTwinRegistry, type TwinRegistry } from '../definitions/registry.ts'
import { startRedisOrInstall } from '../embedded/aptInstall.ts'
import { TwinError } from '../errors.ts'
import { readShardCount } from '../store/clusterMeta.ts'
import { Keys } from '../store/keys.ts'
import { connectRedis, type RedisClient } from '../store/redis.ts'

/** An engine's data set as an admin command sees it: its Redis, key prefix and shard count, and the definitions in hand. */
export interface DataSet {
  redis: RedisClient
  keys: Keys
  shards: number
  registry: TwinRegistry
  drivers: Drivers
  close(): Promise<void>
}

/**
 * Opens the data set `twin start` would use with the same settings: REDIS_URL
 * (or the managed redis-server of DATA_DIR — the running engine's, or one
 * started for this command and stopped after it), KEY_PREFIX, and the
 * definitions of TWINS_DIR / RULES_DIR.
 */
export async function openDataSet(config: Config, log: Logger): Promise<DataSet> {
  const registry = await loadTwinRegistry(config.twinsDir, config.rulesDir)
  let stopRedis: (() => Promise<void>) | undefined
  let url = config.redisUrl
  if (!url) {
    const managed = await startRedisOrInstall(config.dataDir, config.autoInstallRedis, log)
    url = managed.url
    // The running engine's Redis stays up; one started for this command stops with it.
    if (!managed.adopted) stopRedis = () => managed.stop()
  }
  const redis = connectRedis(url, 'twin-admin', config.redisCluster, log)
  const keys = new Keys(config.keyPrefix)
  const close = async () => {
    await redis.quit().catch(() => undefined)
    await stopRedis?.()
  }
  const shards = await readShardCount(redis, keys).catch(async (err: unknown) => {
    await close()
    throw err
  })
  if (shards === undefined) {
    await close()
    throw new TwinError('TWIN_ERR_CONFIG', `no twin-engine data set at ${url.replace(/\/\/[^@]*@/, '//')} with KEY_PREFIX="${config.keyPrefix}": start the engine once, or set REDIS_URL / DATA_DIR / KEY_PREFIX as for twin start`)
  }
  return { redis, keys, shards, registry, drivers: new Drivers(registry), close }
}
