import type { Drivers } from '../core/drivers.ts'
import { shardRange } from '../model/ids.ts'
import type { Keys } from '../store/keys.ts'
import type { RedisClient } from '../store/redis.ts'
import { readCounts } from '../store/stateCounts.ts'
import { standingOf } from './migrationScan.ts'

/** Stored twins checked by the startup sample, in all. */
export const STARTUP_SAMPLE = 512

export interface DefinitionCheck {
  /** per type, the version the engine runs */
  versions: Record<string, number>
  /** per type, how many twins are stored at each version (exact: the counts' version index) */
  stored: Record<string, Record<string, number>>
  /** what the definitions cannot do with stored twins, with counts */
  problems: string[]
  /** a bounded random sample of stored twins, restored and migrated in memory as the worker would */
  sample: { checked: number; failing: number; first?: string }
}

/**
 * What `twin start` says about the stored twins its definitions will meet.
 * Exact and cheap at any size from the index of stored versions (one small
 * hash per shard): twins stored by a newer version (held until a worker
 * with it runs), at a version no migration chain leads from, or of a type
 * the definitions lack. A bounded random sample (STARTUP_SAMPLE twins)
 * finds what the index cannot: a state the machine lost without a version
 * bump, a migration that throws. `twin migrate --dry-run` checks them all.
 */
export async function checkStoredDefinitions(redis: RedisClient, keys: Keys, shards: number, drivers: Drivers): Promise<DefinitionCheck> {
  const versions = drivers.versions
  const counts = await readCounts(redis, keys, shards)
  const check: DefinitionCheck = { versions, stored: {}, problems: [], sample: { checked: 0, failing: 0 } }
  for (const [type, c] of Object.entries(counts)) {
    if (c.total === 0) continue
    check.stored[type] = c.versions
    const driver = drivers.get(type)
    if (!driver) {
      check.problems.push(`${c.total} stored twins of type "${type}", which these definitions do not have: their input is dead-lettered (TWIN_ERR_UNKNOWN_TYPE)`)
      continue
    }
    const current = driver.definition.version
    for (const [v, n] of Object.entries(c.versions)) {
      const version = Number(v)
      if (version > current) check.problems.push(`${n} twins of "${type}" are stored at version ${version}, newer than this engine's ${current}: their input is held until a worker with version ${version} runs`)
      const gap = missingMigration(driver.definition.migrations, version, current)
      if (gap !== undefined) check.problems.push(`${n} twins of "${type}" are stored at version ${version} and cannot be migrated to ${current}: no migrations[${gap}] (they are kept; their input is dead-lettered with TWIN_ERR_MIGRATION_FAILED)`)
    }
  }
  await sampleStored(redis, keys, shards, drivers, check)
  if (check.sample.failing) check.problems.push(`${check.sample.failing} of ${check.sample.checked} sampled stored twins cannot be restored or migrated, e.g. ${check.sample.first}; run twin migrate --dry-run for all of them`)
  return check
}

/** The first migration step missing between two versions, or undefined. */
function missingMigration(migrations: Record<number, unknown> | undefined, from: number, to: number): number | undefined {
  for (let n = from; n < to; n++) if (!migrations?.[n]) return n
  return undefined
}

async function sampleStored(redis: RedisClient, keys: Keys, shards: number, drivers: Drivers, check: DefinitionCheck): Promise<void> {
  const perShard = Math.max(1, Math.ceil(STARTUP_SAMPLE / shards))
  const hrandfield = redis.hrandfield as unknown as (key: string, count: number, withValues: 'WITHVALUES') => Promise<string[]>
  const pages = await Promise.all(shardRange(shards).map((shard) => hrandfield.call(redis, keys.shard(shard).twins, perShard, 'WITHVALUES')))
  for (const flat of pages) {
    for (let i = 0; i < flat.length; i += 2) {
      const standing = standingOf(drivers, flat[i]!, flat[i + 1]!)
      if (standing.kind === 'unknown' || standing.kind === 'ahead') continue
      check.sample.checked++
      if (standing.kind === 'fails') {
        check.sample.failing++
        check.sample.first ??= standing.why
      }
    }
  }
}
