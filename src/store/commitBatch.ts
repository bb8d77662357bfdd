import { deadLetterFields } from './deadLetters.ts'
import { heldFields } from './inboxStream.ts'
import type { ShardKeys } from './keys.ts'
import { outboxFields } from './outboxStream.ts'
import { countField } from './stateCounts.ts'
import type { RedisClient } from './redis.ts'
import { encodeRecord } from './twinRecords.ts'
import type { ShardWrites } from '../model/entries.ts'

/** One shard batch's writes, with the epoch that fences them (lua/commitBatch-12.lua). */
export interface ShardCommit extends ShardWrites {
  /** the lease epoch the committing worker holds: a stale one is refused (fencing) */
  epoch: number
  /** dead letters kept per shard (approximate trim) */
  deadLetterMaxLen: number
}

export type CommitReply = { committed: true; nextDue: number } | { committed: false; currentEpoch: string }

/**
 * Commits one shard batch atomically, fenced by the lease epoch. The script's
 * keys and arguments are built here and nowhere else; see the header of
 * lua/commitBatch-12.lua for their layout.
 */
export async function commitShardBatch(redis: RedisClient, k: ShardKeys, c: ShardCommit): Promise<CommitReply> {
  const args: Array<string | number> = [c.epoch, c.checkpoint, c.deadLetterMaxLen]
  args.push(c.records.length)
  for (const [key, record] of c.records) args.push(key, encodeRecord(record))
  args.push(c.created.length, ...c.created)
  args.push(c.timersRemoved.length, ...c.timersRemoved)
  args.push(c.timersAdded.length)
  for (const t of c.timersAdded) args.push(t.due, t.member)
  args.push(c.outbox.length)
  for (const entry of c.outbox) pushFields(args, outboxFields(entry))
  args.push(c.deadLetters.length)
  for (const d of c.deadLetters) {
    args.push(d.code)
    pushFields(args, deadLetterFields(d))
  }
  args.push(c.counts.length)
  for (const d of c.counts) args.push(countField(d), d.delta)
  args.push(c.held.length)
  for (const entry of c.held) pushFields(args, heldFields(entry))
  args.push(c.heldKeys.length)
  for (const h of c.heldKeys) args.push(h.key, h.version)
  args.push(c.unheld.length, ...c.unheld)
  args.push(c.heldApplied.length, ...c.heldApplied)
  const [ok, value] = await redis.commitBatch(k.epoch, k.twins, k.index, k.timers, k.outbox, k.dead, k.deadCounts, k.meta, k.inbox, k.counts, k.held, k.heldKeys, ...args)
  return ok === 1 ? { committed: true, nextDue: Number(value) >= 0 ? Number(value) : Infinity } : { committed: false, currentEpoch: String(value ?? '') }
}

/** A stream entry's fields as the script takes them: the number of pairs, then the pairs. */
function pushFields(args: Array<string | number>, fields: readonly string[]): void {
  args.push(fields.length / 2)
  for (const f of fields) args.push(f)
}
