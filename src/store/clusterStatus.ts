import type { Keys } from './keys.ts'
import type { RedisClient } from './redis.ts'
import { META } from './shardMeta.ts'
import { readWorkerVersions } from './workerVersions.ts'
import { shardRange } from '../model/ids.ts'

export interface ShardStatus {
  shard: number
  owner: string | null
  epoch: number
  /** inbox entries not yet applied */
  lag: number
  /** age of the oldest unapplied inbox entry, ms (0 when none) */
  oldestUnappliedMs: number
  /** twins whose input is held: stored by a newer definition version than the owner has (a rollout under way) */
  heldTwins: number
}

export interface ClusterStatus {
  /** Redis time of the reading, ms */
  now: number
  /** live workers, the shards they own, and the definition versions they run (a mixed fleet shows here) */
  workers: Array<{ id: string; lastHeartbeatMs: number; shards: number[]; versions: Record<string, number> }>
  shards: ShardStatus[]
}

/** Applied entries an approximate trim can leave: one stream node (Redis stream-node-max-entries, 100 by default), with room. */
const LEFT_APPLIED_MAX = 1000

/**
 * What `GET /cluster` shows operators: live workers, who owns which shard
 * under which epoch, and how far each shard's inbox is behind.
 */
export async function readClusterStatus(redis: RedisClient, keys: Keys, shards: number, heartbeatTtlMs: number): Promise<ClusterStatus> {
  const live = await redis.heartbeat(keys.workers, '', heartbeatTtlMs)
  const now = Number(live[0])
  const shardKeys = shardRange(shards).map((shard) => keys.shard(shard))
  const [owners, epochs, checkpoints, lengths, held, versions] = await Promise.all([
    Promise.all(shardKeys.map((k) => redis.get(k.lease))),
    Promise.all(shardKeys.map((k) => redis.get(k.epoch))),
    Promise.all(shardKeys.map((k) => redis.hget(k.meta, META.checkpoint))),
    Promise.all(shardKeys.map((k) => redis.xlen(k.inbox))),
    Promise.all(shardKeys.map((k) => redis.hlen(k.heldKeys))),
    readWorkerVersions(redis, keys),
  ])
  // The commit trims the inbox approximately (lua/commitShards-n.lua): the applied entries
  // it left, up to a stream node's worth and the checkpoint entry itself, are not lag.
  const [first, applied] = await Promise.all([
    Promise.all(shardKeys.map((k, shard) => redis.xrange(k.inbox, checkpoints[shard] ? `(${checkpoints[shard]}` : '-', '+', 'COUNT', 1))),
    Promise.all(shardKeys.map((k, shard) => (checkpoints[shard] ? redis.xrange(k.inbox, '-', checkpoints[shard]!, 'COUNT', LEFT_APPLIED_MAX) : []))),
  ])
  const status: ShardStatus[] = []
  for (let shard = 0; shard < shards; shard++) {
    const oldest = first[shard]?.[0]?.[0]
    status.push({
      shard,
      owner: owners[shard] ?? null,
      epoch: Number(epochs[shard] ?? 0),
      lag: Math.max(0, lengths[shard]! - applied[shard]!.length),
      oldestUnappliedMs: oldest ? Math.max(0, now - Number(oldest.slice(0, oldest.indexOf('-')))) : 0,
      heldTwins: held[shard]!,
    })
  }
  const workers: ClusterStatus['workers'] = []
  for (let i = 1; i < live.length; i += 2) {
    const id = String(live[i])
    workers.push({ id, lastHeartbeatMs: Number(live[i + 1]), shards: status.filter((s) => s.owner === id).map((s) => s.shard), versions: versions.get(id) ?? {} })
  }
  return { now, workers, shards: status }
}
