import type { ShardKeys } from './keys.ts'
import type { RedisClient } from './redis.ts'

/**
 * Fields of a shard's meta hash (keys.ts `meta`), named here and in the
 * headers of the scripts that write them:
 *   cp       last inbox id applied (commitShards-n.lua writes it with the batch)
 *   relayed  last outbox id the relay's broker lane passed: derived events, commands
 *            and topic outputs published to MQTT (markRelayed-2.lua, only forward)
 *   routed   last outbox id the relay's routes lane passed: routed entries in their
 *            targets' inboxes, derived events handed to the sinks (markRelayed-2.lua,
 *            only forward); '0-0' before its first pass. Absent on a shard written
 *            before ADR 0045, whose single `relayed` mark stood for both lanes
 *   counted  1 once the shard's live counts are kept (replaceCounts-3.lua)
 *   rt       input retention on (ADR 0012): its generation, the time (ms) retention
 *            last started; set by the owner (store/retention.ts), while set the
 *            commit leaves applied input in the inbox for moveApplied-3.lua
 *   rl       last inbox id moved to the retained stream (moveApplied-3.lua)
 */
export const META = {
  checkpoint: 'cp',
  relayed: 'relayed',
  routed: 'routed',
  counted: 'counted',
  retention: 'rt',
  retainedLast: 'rl',
} as const

/** The mark of one lane of the outbox relay. */
export type RelayMark = typeof META.relayed | typeof META.routed

/**
 * Where a lane of the relay resumes in a shard's outbox: the last id it
 * passed, or ''/'0-0' for the start. A shard written before the routes lane
 * had its own mark resumes that lane where the single mark was (everything up
 * to it was routed too); the first move of `relayed` writes that down
 * (markRelayed-2.lua).
 */
export async function readRelayMark(redis: RedisClient, meta: string, mark: RelayMark): Promise<string> {
  const [relayed, routed] = await redis.hmget(meta, META.relayed, META.routed)
  return (mark === META.routed ? (routed ?? relayed) : relayed) ?? ''
}

export interface MoveRelayMark {
  mark: RelayMark
  /** the last outbox id the lane's pass handled */
  last: string
  /** outbox entries kept once every lane passed them (approximate); 0: do not trim now */
  keep: number
}

/**
 * Moves a lane's mark forward and trims the outbox to the older of the two
 * marks and the retention (markRelayed-2.lua). False when the stored mark was
 * already at or past `last` (another relay got further): nothing written.
 */
export async function moveRelayMark(redis: RedisClient, k: Pick<ShardKeys, 'outbox' | 'meta'>, m: MoveRelayMark): Promise<boolean> {
  return (await redis.markRelayed(k.outbox, k.meta, m.mark, m.last, m.keep)) === 1
}
