import type { Drivers } from '../core/drivers.ts'
import { shardRange, splitTwinKey } from '../model/ids.ts'
import type { Keys } from '../store/keys.ts'
import type { RedisClient } from '../store/redis.ts'
import { scanShard, standingOf } from './migrationScan.ts'

/** Failures listed per type (the rest are counted). */
const FAILURES_SHOWN = 5

export interface TypeMigrationReport {
  /** the version the definitions in hand have */
  version: number
  current: number
  /** twins that would migrate, per version they are stored at */
  wouldMigrate: Record<string, number>
  wouldFail: number
  /** stored by a newer version than the definitions in hand */
  ahead: number
  /** the first few that would fail, and why */
  failures: Array<{ twin: string; from: number; why: string }>
}

export interface MigrationReport {
  types: Record<string, TypeMigrationReport>
  /** stored twins of types the definitions in hand do not have */
  unknownTypes: Record<string, number>
  scanned: number
  seconds: number
}

/**
 * The dry run of `twin migrate`: walks every stored twin (of one type, or
 * all) and says, per type, how many are current, would migrate (the
 * migrations run in memory and their result is checked as the worker checks
 * it) and would fail, with the first failures and why. Writes nothing.
 */
export async function migrationReport(redis: RedisClient, keys: Keys, shards: number, drivers: Drivers, onlyType?: string): Promise<MigrationReport> {
  const started = performance.now()
  const report: MigrationReport = { types: {}, unknownTypes: {}, scanned: 0, seconds: 0 }
  for (const definition of drivers.registry.actorDefinitions) {
    if (onlyType === undefined || definition.type === onlyType) {
      report.types[definition.type] = { version: definition.version, current: 0, wouldMigrate: {}, wouldFail: 0, ahead: 0, failures: [] }
    }
  }
  for (const shard of shardRange(shards)) {
    await scanShard(redis, keys.shard(shard), '0', async (page) => {
      for (const [key, stored] of page) {
        const { type } = splitTwinKey(key)
        if (onlyType !== undefined && type !== onlyType) continue
        report.scanned++
        const standing = standingOf(drivers, key, stored)
        const t = report.types[type]
        if (standing.kind === 'unknown' || !t) report.unknownTypes[type] = (report.unknownTypes[type] ?? 0) + 1
        else if (standing.kind === 'current') t.current++
        else if (standing.kind === 'ahead') t.ahead++
        else if (standing.kind === 'migrates') t.wouldMigrate[standing.from] = (t.wouldMigrate[standing.from] ?? 0) + 1
        else {
          t.wouldFail++
          if (t.failures.length < FAILURES_SHOWN) t.failures.push({ twin: key, from: standing.from, why: standing.why })
        }
      }
    })
  }
  report.seconds = Math.round(performance.now() - started) / 1000
  return report
}

/** The report as lines for a terminal. */
export function formatMigrationReport(report: MigrationReport): string {
  const lines = [`scanned ${report.scanned} stored twins in ${report.seconds} s`]
  for (const [type, t] of Object.entries(report.types)) {
    const migrate = Object.entries(t.wouldMigrate).map(([v, n]) => `${n} from v${v}`).join(', ') || '0'
    lines.push(`${type} (v${t.version}): ${t.current} current, would migrate ${migrate}, would fail ${t.wouldFail}${t.ahead ? `, ${t.ahead} stored by a newer version` : ''}`)
    for (const f of t.failures) lines.push(`  ✗ ${f.twin}: ${f.why}`)
    if (t.wouldFail > t.failures.length) lines.push(`  … and ${t.wouldFail - t.failures.length} more`)
  }
  for (const [type, n] of Object.entries(report.unknownTypes)) lines.push(`${type}: ${n} stored twins of a type these definitions do not have`)
  return lines.join('\n')
}
