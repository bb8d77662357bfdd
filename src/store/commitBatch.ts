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
  const replies: Array<PromiseSettledResult<CommitReply>> = []
  for (const group of bounded(calls)) {
    try {
      for (const value of await commitScript(redis, group)) replies.push({ status: 'fulfilled', value })
    } catch (reason) {
      for (const _ of group) replies.push({ status: 'rejected', reason })
    }
  }
  return replies
}

/**
 * Arguments of one script call at most: a step of big batches on many shards
 * is committed in a few calls rather than one that would hold Redis for long.
 */
const MAX_ARGS_PER_CALL = 100_000

function* bounded(calls: readonly ShardCommitCall[]): Iterable<ShardCommitCall[]> {
  let group: ShardCommitCall[] = []
  let size = 0
  for (const call of calls) {
    const estimate = estimateArgs(call.commit)
    if (group.length && size + estimate > MAX_ARGS_PER_CALL) {
      yield group
      group = []
      size = 0
    }
    group.push(call)
    size += estimate
  }
  if (group.length) yield group
}

function estimateArgs(c: ShardCommit): number {
  return 20 + 2 * c.records.length + c.created.length + c.timersRemoved.length + 2 * c.timersAdded.length + 12 * (c.outbox.length + c.deadLetters.length + c.held.length) + 2 * c.counts.length
}

/** Keys of one shard in the script's KEYS, in its order (lua/commitShards-n.lua). */
const KEYS_PER_SHARD = 12

async function commitScript(redis: RedisClient, calls: readonly ShardCommitCall[]): Promise<CommitReply[]> {
  // One flat list, built in place (never spread into a call: a big step has more arguments than a call stack takes).
  const all: Array<string | number> = [KEYS_PER_SHARD * calls.length]
  for (const { keys: k } of calls) all.push(k.epoch, k.twins, k.index, k.timers, k.outbox, k.dead, k.deadCounts, k.meta, k.inbox, k.counts, k.held, k.heldKeys)
  all.push(calls.length)
  for (const { commit } of calls) {
    const at = all.length
    all.push(0) // the block's length, set once it is written
    pushCommitArgs(all, commit)
    all[at] = all.length - at - 1
  }
  const reply = await redis.commitShards(all)
  return calls.map((_, s) => {
    const ok = reply[2 * s]
    const value = reply[2 * s + 1]
    return ok === 1 ? { committed: true, nextDue: Number(value) >= 0 ? Number(value) : Infinity } : { committed: false, currentEpoch: String(value ?? '') }
  })
}

/** Appends one shard's argument block to `args` (the layout in the script's header). */
function pushCommitArgs(args: Array<string | number>, c: ShardCommit): void {
  args.push(c.epoch, c.checkpoint, c.deadLetterMaxLen)
  args.push(c.records.length)
  for (const [key, record] of c.records) args.push(key, encodeRecord(record))
  pushAll(args, c.created)
  pushAll(args, c.timersRemoved)
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
  pushAll(args, c.unheld)
  pushAll(args, c.heldApplied)
}

/** A counted section of single items: the count, then the items. */
function pushAll(args: Array<string | number>, items: readonly string[]): void {
  args.push(items.length)
  for (const item of items) args.push(item)
}

/** A stream entry's fields as the script takes them: the number of pairs, then the pairs. */
function pushFields(args: Array<string | number>, fields: readonly string[]): void {
  args.push(fields.length / 2)
  for (const f of fields) args.push(f)
}
