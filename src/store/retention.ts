import { decodeInboxEntries } from './inboxStream.ts'
import type { ShardKeys } from './keys.ts'
import type { RedisClient } from './redis.ts'
import { META } from './shardMeta.ts'
import { decodeRecord } from './twinRecords.ts'
import type { InboxEntry } from '../model/entries.ts'
import { streamIdAfter } from '../model/ids.ts'
import type { TwinRecord } from '../model/record.ts'

/**
 * Input retention for what-if replay (ADR 0012), one shard at a time: the
 * retained stream (applied input, moved there from the inbox by
 * lua/moveApplied-3.lua), the base snapshots of the shard's twins
 * (lua/snapshotTwins-4.lua) and their trimming (lua/trimRetained-n.lua).
 * The snapshot index's members are encoded by the snapshot script and
 * decoded here.
 */

/** A base snapshot: a copy of the shard's twins consistent with its checkpoint. */
export interface Snapshot {
  /** time taken (ms, the owner's clock): the zset score */
  at: number
  /** the inbox id the copy is consistent with: everything up to it applied, nothing after ('0-0': nothing yet) */
  checkpoint: string
  /** the retention generation it belongs to: only snapshots of the shard's current one can be replayed */
  generation: string
  /** its member in the snapshot index */
  member: string
}

/** Entries moved per run of the move script: bounds how long Redis is busy with one (a batch is at most BATCH_SIZE). */
const MOVE_LIMIT = 10_000

export function decodeSnapshot(member: string, score: number): Snapshot {
  const [, checkpoint = '0-0', generation = ''] = member.split('|')
  return { at: score, checkpoint, generation, member }
}

/**
 * Turns input retention on or off for a shard, as its new owner's setting
 * says, before the owner's first commit. On: the commit leaves applied input
 * for the move (a new generation starts if it was off). Off: the commit trims
 * the inbox again; retained input and snapshots left from when it was on are
 * dropped. Returns the retention generation ('' when off).
 */
export async function setInputRetention(redis: RedisClient, k: ShardKeys, on: boolean, now: number): Promise<string> {
  if (on) {
    await redis.hsetnx(k.meta, META.retention, String(now))
    return (await redis.hget(k.meta, META.retention)) ?? ''
  }
  const removed = await redis.hdel(k.meta, META.retention, META.retainedLast)
  if (removed > 0 || (await redis.exists(k.retained, k.snapshots)) > 0) await dropRetained(redis, k, (await readSnapshots(redis, k)).snapshots, '+')
  return ''
}

/** Moves the input applied so far from the inbox to the retained stream (run after a commit; see lua/moveApplied-3.lua). */
export async function moveApplied(redis: RedisClient, k: ShardKeys, now: number): Promise<{ moved: number; generation: string }> {
  const [moved, generation] = await redis.moveApplied(k.inbox, k.retained, k.meta, MOVE_LIMIT, now)
  return { moved: Number(moved), generation: String(generation) }
}

/** Takes a base snapshot of the shard's twins at `at`; null when retention is off or one of that time exists. */
export async function takeSnapshot(redis: RedisClient, k: ShardKeys, at: number): Promise<Snapshot | null> {
  const [ok, member] = await redis.snapshotTwins(k.twins, k.meta, k.snapshots, k.snapshot(at), at)
  return Number(ok) === 1 ? decodeSnapshot(String(member), at) : null
}

/** The shard's retention generation ('' when off) and its snapshots, oldest first. */
export async function readSnapshots(redis: RedisClient, k: ShardKeys): Promise<{ generation: string; snapshots: Snapshot[] }> {
  const [flat, generation] = await Promise.all([redis.zrange(k.snapshots, '0', '-1', 'WITHSCORES'), redis.hget(k.meta, META.retention)])
  const snapshots: Snapshot[] = []
  for (let i = 0; i < flat.length; i += 2) snapshots.push(decodeSnapshot(flat[i]!, Number(flat[i + 1])))
  return { generation: generation ?? '', snapshots }
}

/** Drops snapshots and trims the retained input before `keepFrom` ('' none, '+' all), in one step. */
export async function dropRetained(redis: RedisClient, k: ShardKeys, snapshots: readonly Snapshot[], keepFrom: string): Promise<number> {
  if (snapshots.length === 0 && keepFrom === '') return 0
  const keys = [k.retained, k.snapshots, ...snapshots.map((s) => k.snapshot(s.at))]
  return Number(await redis.trimRetained(keys.length, ...keys, keepFrom, ...snapshots.map((s) => s.member)))
}

/** Redis memory of the retained input and of each snapshot (MEMORY USAGE: sampled, an estimate). */
export async function retainedBytes(redis: RedisClient, k: ShardKeys, snapshots: readonly Snapshot[]): Promise<{ input: number; snapshots: number[] }> {
  const usage = (key: string) => (redis as unknown as { memory(sub: 'USAGE', key: string): Promise<number | null> }).memory('USAGE', key).then((n) => Number(n ?? 0))
  const [input, ...each] = await Promise.all([usage(k.retained), ...snapshots.map((s) => usage(k.snapshot(s.at)))])
  return { input: input!, snapshots: each }
}

/** Twins read per HSCAN round trip from a snapshot, and entries per XRANGE page. */
const PAGE = 1000

/**
 * The records of a snapshot, of one twin type (and, given ids, only those),
 * decoded; a record that cannot be read comes back as the error.
 */
export async function readSnapshotRecords(redis: RedisClient, k: ShardKeys, snapshot: Snapshot, type: string, ids?: readonly string[]): Promise<Map<string, TwinRecord | Error>> {
  const out = new Map<string, TwinRecord | Error>()
  const keep = (key: string, stored: string | null) => {
    if (stored === null) return
    try {
      out.set(key, decodeRecord(stored))
    } catch (err) {
      out.set(key, err as Error)
    }
  }
  const hash = k.snapshot(snapshot.at)
  if (ids) {
    const keys = ids.map((id) => `${type}/${id}`)
    if (keys.length) (await redis.hmget(hash, ...keys)).forEach((stored, i) => keep(keys[i]!, stored))
    return out
  }
  let cursor = '0'
  do {
    const [next, flat] = await redis.hscan(hash, cursor, 'MATCH', `${type}/*`, 'COUNT', PAGE)
    for (let i = 0; i < flat.length; i += 2) keep(flat[i]!, flat[i + 1]!)
    cursor = next
  } while (cursor !== '0')
  return out
}

/**
 * Every input the shard applied after `after` (a snapshot's checkpoint), in
 * order, page by page: the retained stream, then what is applied but still
 * in the inbox (up to the checkpoint; the move runs after each commit).
 */
export async function readRetainedInput(redis: RedisClient, k: ShardKeys, after: string, visit: (page: InboxEntry[]) => void): Promise<{ last: string }> {
  let last = after
  const read = async (key: string, upTo: string) => {
    for (;;) {
      const items = (await redis.xrange(key, `(${last}`, upTo, 'COUNT', PAGE)) as Array<[string, string[]]>
      if (items.length === 0) return
      visit(decodeInboxEntries(items))
      last = items[items.length - 1]![0]
      if (items.length < PAGE) return
    }
  }
  const checkpoint = await redis.hget(k.meta, META.checkpoint)
  await read(k.retained, '+')
  if (checkpoint && streamIdAfter(checkpoint, last)) await read(k.inbox, checkpoint)
  return { last }
}
