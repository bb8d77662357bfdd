import type { CountDelta, CountKey } from '../model/entries.ts'
import { shardRange } from '../model/ids.ts'
import type { Keys, ShardKeys } from './keys.ts'
import type { RedisClient } from './redis.ts'
import { META } from './shardMeta.ts'

/**
 * A shard's live counts (keys.ts `counts`), kept by the commit script with
 * each batch (HINCRBY of the batch's deltas), so they are exact and reading
 * them costs one hash per shard however many twins there are.
 *
 * Field per count key, `<kind>|<type>|<name>`:
 *   t|<type>|           twins of the type
 *   v|<type>|<version>  twins stored at a definition version (the index of stored versions)
 *   s|<type>|<path>     twins in a state node (dotted path, ancestors counted too)
 *   g|<type>|<tag>      twins whose state has a tag
 *   i|<type>|<name>     twins for which an indicator of the definition holds
 */
const KIND_CODE = { total: 't', version: 'v', state: 's', tag: 'g', indicator: 'i' } as const
const CODE_KIND: Record<string, CountKey['kind']> = { t: 'total', v: 'version', s: 'state', g: 'tag', i: 'indicator' }

export function countField(key: CountKey): string {
  return `${KIND_CODE[key.kind]}|${key.type}|${key.name}`
}

export function parseCountField(field: string): CountKey | null {
  const first = field.indexOf('|')
  const second = field.indexOf('|', first + 1)
  const kind = CODE_KIND[field.slice(0, first)]
  if (first !== 1 || second < 0 || !kind) return null
  return { kind, type: field.slice(first + 1, second), name: field.slice(second + 1) }
}

/** Counts of one twin type, summed over the shards. */
export interface TypeCounts {
  total: number
  /** per state node path */
  states: Record<string, number>
  tags: Record<string, number>
  indicators: Record<string, number>
  /** per definition version the twins are stored at */
  versions: Record<string, number>
}

/** Live counts of every type (or one), summed over the shards: one HGETALL per shard, in one round trip. */
export async function readCounts(redis: RedisClient, keys: Keys, shards: number, type?: string): Promise<Record<string, TypeCounts>> {
  const hashes = await Promise.all(shardRange(shards).map((shard) => redis.hgetall(keys.shard(shard).counts)))
  const out: Record<string, TypeCounts> = {}
  for (const hash of hashes) {
    for (const [field, raw] of Object.entries(hash)) {
      const key = parseCountField(field)
      const n = Number(raw)
      if (!key || (type !== undefined && key.type !== type)) continue
      const c = (out[key.type] ??= emptyCounts())
      if (key.kind === 'total') c.total += n
      else {
        const group = c[GROUP[key.kind]]
        group[key.name] = (group[key.name] ?? 0) + n
      }
    }
  }
  for (const c of Object.values(out)) for (const group of [c.states, c.tags, c.indicators, c.versions]) for (const name in group) if (group[name] === 0) delete group[name]
  return out
}

const GROUP = { version: 'versions', state: 'states', tag: 'tags', indicator: 'indicators' } as const

export function emptyCounts(): TypeCounts {
  return { total: 0, states: {}, tags: {}, indicators: {}, versions: {} }
}

/** True once the shard's counts are kept (a recount ran, or the shard was created with them). */
export async function countsKept(redis: RedisClient, k: ShardKeys): Promise<boolean> {
  return (await redis.hget(k.meta, META.counted)) === '1'
}

/** Replaces the shard's counts with a recount, fenced by the owner's epoch (lua/replaceCounts-3.lua). False when the epoch is stale. */
export async function replaceCounts(redis: RedisClient, k: ShardKeys, epoch: number, counts: readonly CountDelta[]): Promise<boolean> {
  const args: Array<string | number> = [epoch]
  for (const c of counts) args.push(countField(c), c.delta)
  return (await redis.replaceCounts(k.epoch, k.counts, k.meta, ...args)) === 1
}

/** Per shard, the newest definition version each type's twins are stored at (from the counts' version index). */
export async function readStoredVersions(redis: RedisClient, keys: Keys, shards: number): Promise<Array<Map<string, number>>> {
  const hashes = await Promise.all(shardRange(shards).map((shard) => redis.hgetall(keys.shard(shard).counts)))
  return hashes.map((hash) => {
    const newest = new Map<string, number>()
    for (const [field, raw] of Object.entries(hash)) {
      if (!field.startsWith('v|') || Number(raw) <= 0) continue
      const key = parseCountField(field)
      const version = Number(key?.name)
      if (key && version > (newest.get(key.type) ?? 0)) newest.set(key.type, version)
    }
    return newest
  })
}
