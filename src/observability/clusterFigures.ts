import type { ClusterFigures } from './metrics.ts'
import { shardRange } from '../model/ids.ts'
import { readClusterStatus } from '../store/clusterStatus.ts'
import { countDeadLetters } from '../store/deadLetters.ts'
import type { Keys } from '../store/keys.ts'
import type { RedisClient } from '../store/redis.ts'

/** The cluster-wide figures of /metrics: a few pipelined commands per shard (cached by Metrics). */
export async function readClusterFigures(redis: RedisClient, keys: Keys, shards: number, leaseTtlMs: number): Promise<ClusterFigures> {
  const [status, timers, deadLettersByReason] = await Promise.all([
    readClusterStatus(redis, keys, shards, leaseTtlMs),
    Promise.all(shardRange(shards).map((shard) => redis.zcard(keys.shard(shard).timers))),
    countDeadLetters(redis, keys, shards),
  ])
  return { lag: status.shards.map((s) => s.lag), timersPending: timers.reduce((a, b) => a + b, 0), deadLettersByReason }
}
