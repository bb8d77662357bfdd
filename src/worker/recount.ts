import type { Drivers } from '../core/drivers.ts'
import { addCountDeltas, countKeys } from '../core/stateCounts.ts'
import type { CountDelta } from '../model/entries.ts'
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
 * A twin whose record this engine cannot restore counts in its type's total
 * and state paths, without tags or indicators. Returns false when the epoch
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

function keysOf(drivers: Drivers, key: string, stored: string) {
  const { type } = splitTwinKey(key)
  const driver = drivers.get(type)
  try {
    const record = decodeRecord(stored)
    if (!driver) return [{ type, kind: 'total' as const, name: '' }]
    let tags: ReadonlySet<string> = new Set()
    try {
      tags = driver.restore(record).tags
    } catch {
      // counted without tags: the definition cannot restore this state
    }
    return countKeys(driver.definition, record.v, record.c, tags)
  } catch {
    return [{ type, kind: 'total' as const, name: '' }]
  }
}
