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
  }
}

/** The scripted commands, typed. */
export interface ScriptCommands {
  commitBatch(...keysAndArgs: Array<string | number>): Promise<[number, number | string | null]>
  acquireLease(lease: string, epoch: string, workerId: string, ttlMs: number): Promise<number>
  releaseLease(lease: string, workerId: string): Promise<number>
  heartbeat(workers: string, workerId: string, ttlMs: number): Promise<Array<string | number>>
  leaveCluster(workers: string, workerId: string): Promise<number>
  /** through store/shardMeta.ts moveRelayMark */
  markRelayed(outbox: string, meta: string, mark: 'relayed' | 'routed', last: string, keep: number): Promise<number>
  replaceCounts(epoch: string, counts: string, meta: string, ...epochAndPairs: Array<string | number>): Promise<number>
  /** numKeys, the inbox keys, then the groups of store/inboxStream.ts addInboxEntriesArgs */
  addInboxEntries(...numKeysKeysAndArgs: Array<string | number>): Promise<string[]>
}
