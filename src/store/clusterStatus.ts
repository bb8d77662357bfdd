import type { Keys } from './keys.ts'
import type { RedisClient } from './redis.ts'

export interface ShardStatus {
  shard: number
  owner: string | null
  epoch: number
  /** inbox entries not yet applied */
  lag: number
  /** age of the oldest unapplied inbox entry, ms (0 when none) */
  oldestUnappliedMs: number
}

export interface ClusterStatus {
  /** Redis time of the reading, ms */
  now: number
  workers: Array<{ id: string; lastHeartbeatMs: number; shards: number[] }>
  shards: ShardStatus[]
}

/**
 * What `GET /cluster` shows operators: live workers, who owns which shard
 * under which epoch, and how far each shard's inbox is behind.
 */
export async function readClusterStatus(redis: RedisClient, keys: Keys, shards: number, heartbeatTtlMs: number): Promise<ClusterStatus> {
  const live = await redis.heartbeat(keys.workers, '', heartbeatTtlMs)
  const now = Number(live[0])
  const pipeline = redis.pipeline()
  for (let shard = 0; shard < shards; shard++) {
    const k = keys.shard(shard)
    pipeline.get(k.lease)
    pipeline.get(k.epoch)
    pipeline.hget(k.meta, 'cp')
    pipeline.xlen(k.inbox)
  }
  const replies = ((await pipeline.exec()) ?? []).map(([err, value]) => {
    if (err) throw err
    return value
  })
  // The checkpoint entry itself stays in the inbox (XTRIM MINID keeps it): the rest is lag.
  const firsts = redis.pipeline()
  for (let shard = 0; shard < shards; shard++) {
    const cp = replies[shard * 4 + 2] as string | null
    firsts.xrange(keys.shard(shard).inbox, cp ? `(${cp}` : '-', '+', 'COUNT', 1)
  }
  const first = ((await firsts.exec()) ?? []).map(([, value]) => value as Array<[string, string[]]>)
  const status: ShardStatus[] = []
  for (let shard = 0; shard < shards; shard++) {
    const [owner, epoch, cp, length] = replies.slice(shard * 4, shard * 4 + 4) as [string | null, string | null, string | null, number]
    const oldest = first[shard]?.[0]?.[0]
    status.push({
      shard,
      owner,
      epoch: Number(epoch ?? 0),
      lag: Math.max(0, length - (cp ? 1 : 0)),
      oldestUnappliedMs: oldest ? Math.max(0, now - Number(oldest.slice(0, oldest.indexOf('-')))) : 0,
    })
  }
  const workers: ClusterStatus['workers'] = []
  for (let i = 1; i < live.length; i += 2) {
    const id = String(live[i])
    workers.push({ id, lastHeartbeatMs: Number(live[i + 1]), shards: status.filter((s) => s.owner === id).map((s) => s.shard) })
  }
  return { now, workers, shards: status }
}
