import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Cluster, Redis } from 'ioredis'

const LUA_DIR = join(dirname(fileURLToPath(import.meta.url)), 'lua')

/**
 * Registers every `lua/<verbObject>-<numKeys>.lua` file as an ioredis command
 * named `<verbObject>` (EVALSHA with EVAL fallback), BullMQ style. `-n`: the
 * caller passes the number of keys first.
 */
export function defineScripts(redis: Redis | Cluster): void {
  for (const file of readdirSync(LUA_DIR)) {
    const match = /^(\w+)-(\d+|n)\.lua$/.exec(file)
    if (!match) continue
    const numberOfKeys = match[2] === 'n' ? undefined : Number(match[2])
    redis.defineCommand(match[1]!, { numberOfKeys, lua: readFileSync(join(LUA_DIR, file), 'utf8') })
    // ioredis's auto-pipelining on a cluster groups a call by its first argument, which for a
    // `-n` script is the key count, not a key: calls for shards on different nodes would share
    // one pipeline, which ioredis refuses. Such calls are sent on their own (routed by their keys).
    if (numberOfKeys === undefined && 'isCluster' in redis && redis.isCluster) {
      redis.options.autoPipeliningIgnoredCommands = [...(redis.options.autoPipeliningIgnoredCommands ?? []), match[1]!]
    }
  }
}

/** The scripted commands, typed. */
export interface ScriptCommands {
  /** numKeys (12 per shard), the keys, then the shard count and each shard's block (store/commitBatch.ts) */
  commitShards(numKeysKeysAndArgs: Array<string | number>): Promise<Array<number | string>>
  acquireLease(lease: string, epoch: string, workerId: string, ttlMs: number): Promise<number>
  releaseLease(lease: string, workerId: string): Promise<number>
  heartbeat(workers: string, workerId: string, ttlMs: number): Promise<Array<string | number>>
  leaveCluster(workers: string, workerId: string): Promise<number>
  /** through store/shardMeta.ts moveRelayMark */
  markRelayed(outbox: string, meta: string, mark: 'relayed' | 'routed', last: string, keep: number): Promise<number>
  replaceCounts(epoch: string, counts: string, meta: string, ...epochAndPairs: Array<string | number>): Promise<number>
  moveApplied(inbox: string, retained: string, meta: string, limit: number, now: number): Promise<[number, string]>
  snapshotTwins(twins: string, meta: string, snapshots: string, snapshot: string, at: number): Promise<[number, string]>
  /** numKeys, retained, snapshots, the snapshot hashes, then the first id kept and the snapshots' members */
  trimRetained(...numKeysKeysAndArgs: Array<string | number>): Promise<number>
  /** numKeys, the inbox keys, then the groups of store/inboxStream.ts addInboxEntriesArgs */
  addInboxEntries(...numKeysKeysAndArgs: Array<string | number>): Promise<string[]>
}
