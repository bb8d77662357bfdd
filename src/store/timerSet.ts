import type { ShardKeys } from './keys.ts'
import type { RedisClient } from './redis.ts'
import type { DueTimer } from '../model/entries.ts'

/**
 * A shard's timer set (keys.ts `timers`): members `type/id|timerId`
 * (model/ids.ts timerMember) scored by due time in ms. The commit script
 * writes it with the batch; these read it.
 */

/** Timers due at or before `now`, soonest first, at most `limit`. */
export async function readDueTimers(redis: RedisClient, k: ShardKeys, now: number, limit: number): Promise<DueTimer[]> {
  const flat = await redis.zrange(k.timers, '-inf', String(now), 'BYSCORE', 'LIMIT', 0, limit, 'WITHSCORES')
  const due: DueTimer[] = []
  for (let j = 0; j < flat.length; j += 2) due.push({ member: flat[j]!, due: Number(flat[j + 1]) })
  return due
}

/** Due time of the shard's earliest timer; Infinity when none. */
export async function firstDue(redis: RedisClient, k: ShardKeys): Promise<number> {
  const first = await redis.zrange(k.timers, '0', '0', 'WITHSCORES')
  return first[1] ? Number(first[1]) : Infinity
}
