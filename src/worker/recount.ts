import type { Drivers } from '../core/drivers.ts'
import { addCountDeltas, countKeys, indicatorsHolding } from '../core/stateCounts.ts'
import type { CountDelta, CountKey } from '../model/entries.ts'
import type { TwinRecord } from '../model/record.ts'
import { splitTwinKey } from '../model/ids.ts'
import type { ShardKeys } from '../store/keys.ts'
import type { RedisClient } from '../store/redis.ts'
import { countsKept, replaceCounts } from '../store/stateCounts.ts'
import { decodeRecord } from '../store/twinRecords.ts'

/** Twins read per HSCAN round trip while recounting. */
const SCAN_COUNT = 1000

/**
 * Makes sure a shard keeps live counts: a shard that never did (created
 * before the counts existed) is recounted once from its stored twins by its
 * new owner, before the owner applies anything, fenced by the owner's epoch.
 * A twin counts as its record says when it keeps what it was counted with;
 * an older one as its definition restores it (one it cannot restore counts
 * without tags). Returns false when the epoch
 * went stale meanwhile (another worker owns the shard now).
 */
export async function ensureCounts(redis: RedisClient, k: ShardKeys, epoch: number, drivers: Drivers): Promise<boolean> {
  if (await countsKept(redis, k)) return true
  const counts = new Map<string, CountDelta>()
  let cursor = '0'
  do {
    const [next, flat] = await redis.hscan(k.twins, cursor, 'COUNT', SCAN_COUNT)
    cursor = next
    for (let i = 0; i < flat.length; i += 2) addCountDeltas(counts, null, keysOf(drivers, flat[i]!, flat[i + 1]!))
  } while (cursor !== '0')
  return replaceCounts(redis, k, epoch, [...counts.values()])
}

function keysOf(drivers: Drivers, key: string, stored: string): CountKey[] {
  const { type } = splitTwinKey(key)
  let record: TwinRecord
  try {
    record = decodeRecord(stored)
  } catch {
    return [{ type, kind: 'total', name: '' }]
  }
  const driver = drivers.get(type)
  // Counted as the record says (tags and indicators it was committed with), else as its definition restores it.
  if (record.g || !driver) return countKeys(type, record)
  let tags: ReadonlySet<string> = new Set()
  try {
    tags = driver.restore(record).tags
  } catch {
    // counted without tags: the definition cannot restore this state
  }
  return countKeys(type, record, tags, indicatorsHolding(driver.definition, record.v, record.c))
}
