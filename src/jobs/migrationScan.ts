import type { Drivers } from '../core/drivers.ts'
import { migrateRecord } from '../core/migrate.ts'
import { splitTwinKey } from '../model/ids.ts'
import type { ShardKeys } from '../store/keys.ts'
import type { RedisClient } from '../store/redis.ts'
import { decodeRecord } from '../store/twinRecords.ts'

/** Twins read per HSCAN round trip while walking a shard. */
export const SCAN_COUNT = 500

/** Where a stored twin stands against the definitions in hand. */
export type TwinStanding =
  | { kind: 'current' }
  | { kind: 'migrates'; from: number }
  | { kind: 'fails'; from: number; why: string }
  /** stored by a newer version than these definitions have */
  | { kind: 'ahead'; version: number }
  /** its type is not among these definitions */
  | { kind: 'unknown' }

/**
 * Where one stored twin stands: current, would migrate (the migrations run,
 * in memory, and their result is checked as the worker checks it), would
 * fail and why, or stored by a newer version. Pure but for the decoding.
 */
export function standingOf(drivers: Drivers, key: string, stored: string): TwinStanding {
  const driver = drivers.get(splitTwinKey(key).type)
  if (!driver) return { kind: 'unknown' }
  let record
  try {
    record = decodeRecord(stored)
  } catch (err) {
    return { kind: 'fails', from: Number.NaN, why: `its stored record cannot be read: ${(err as Error).message}` }
  }
  const version = driver.definition.version
  if (record.d > version) return { kind: 'ahead', version: record.d }
  const migrated = migrateRecord(driver, key, record)
  if (migrated instanceof Error) return { kind: 'fails', from: record.d, why: migrated.message }
  if (record.d < version) return { kind: 'migrates', from: record.d }
  try {
    driver.restore(record)
    return { kind: 'current' }
  } catch (err) {
    return { kind: 'fails', from: record.d, why: `twin ${key} is at version ${version} but in a state the machine does not have (${JSON.stringify(record.v)}: ${(err as Error).message}); bump the version and add a migration` }
  }
}

/** Walks a shard's stored twins page by page from an HSCAN cursor ('0' to start); `visit` sees each page. Returns when the scan ends. */
export async function scanShard(redis: RedisClient, k: ShardKeys, cursor: string, visit: (page: Array<[key: string, stored: string]>, next: string) => Promise<void>): Promise<void> {
  do {
    const [next, flat] = await redis.hscan(k.twins, cursor, 'COUNT', SCAN_COUNT)
    const page: Array<[string, string]> = []
    for (let i = 0; i < flat.length; i += 2) page.push([flat[i]!, flat[i + 1]!])
    await visit(page, next)
    cursor = next
  } while (cursor !== '0')
}
