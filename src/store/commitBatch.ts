import { deadLetterFields } from './deadLetters.ts'
import { heldFields } from './inboxStream.ts'
import type { ShardKeys } from './keys.ts'
import { outboxFields } from './outboxStream.ts'
import { countField } from './stateCounts.ts'
import { isCluster, type RedisClient } from './redis.ts'
import { encodeRecord } from './twinRecords.ts'
import type { ShardWrites } from '../model/entries.ts'

/** One shard batch's writes, with the epoch that fences them (lua/commitShards-n.lua). */
export interface ShardCommit extends ShardWrites {
  /** the lease epoch the committing worker holds: a stale one is refused (fencing) */
  epoch: number
  /** dead letters kept per shard (approximate trim) */
  deadLetterMaxLen: number
}

export type CommitReply = { committed: true; nextDue: number } | { committed: false; currentEpoch: string }

/** One shard's commit: its keys and its writes. */
export interface ShardCommitCall {
  keys: ShardKeys
  commit: ShardCommit
}

/**
 * Commits shard batches, each atomically and fenced by its own lease epoch
 * (lua/commitShards-n.lua): all in one script call on a standalone Redis,
 * one call per shard on Redis Cluster (a script's keys must share a slot,
 * and each shard is its own). The script's keys and arguments are built here
 * and nowhere else. Replies come back in the order given.
 */
export async function commitShardBatches(redis: RedisClient, calls: readonly ShardCommitCall[]): Promise<Array<PromiseSettledResult<CommitReply>>> {
  if (calls.length === 0) return []
  if (isCluster(redis)) return Promise.allSettled(calls.map((c) => commitScript(redis, [c]).then((r) => r[0]!)))
  try {
    return (await commitScript(redis, calls)).map((value) => ({ status: 'fulfilled', value }))
  } catch (reason) {
    return calls.map(() => ({ status: 'rejected', reason }))
  }
}

async function commitScript(redis: RedisClient, calls: readonly ShardCommitCall[]): Promise<CommitReply[]> {
  const keys: string[] = []
  const args: Array<string | number> = [calls.length]
  for (const { keys: k, commit } of calls) {
    keys.push(k.epoch, k.twins, k.index, k.timers, k.outbox, k.dead, k.deadCounts, k.meta, k.inbox, k.counts, k.held, k.heldKeys)
    const block = commitArgs(commit)
    args.push(block.length, ...block)
  }
  const reply = await redis.commitShards(keys.length, ...keys, ...args)
  return calls.map((_, s) => {
    const ok = reply[2 * s]
    const value = reply[2 * s + 1]
    return ok === 1 ? { committed: true, nextDue: Number(value) >= 0 ? Number(value) : Infinity } : { committed: false, currentEpoch: String(value ?? '') }
  })
}

/** One shard's argument block (the layout in the script's header). */
function commitArgs(c: ShardCommit): Array<string | number> {
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
  return args
}

/** A stream entry's fields as the script takes them: the number of pairs, then the pairs. */
function pushFields(args: Array<string | number>, fields: readonly string[]): void {
  args.push(fields.length / 2)
  for (const f of fields) args.push(f)
}
