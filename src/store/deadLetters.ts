import type { ErrorCode } from '../errors.ts'
import type { Keys } from './keys.ts'
import type { RedisClient } from './redis.ts'

/** A refused input, as listed by `GET /dead-letters`. */
export interface DeadLetter {
  /** stream id in the shard's dead-letter stream */
  id: string
  at: number
  shard: number
  code: ErrorCode
  reason: string
  /** 'mqtt' or 'api' (refused at ingest) or 'worker' (refused by the twin) */
  src: string
  topic?: string
  twin?: string
  event?: string
  /** the payload as received, cut to PAYLOAD_KEPT bytes */
  payload: string
}

/** Bytes of a refused payload kept in its dead letter: enough to diagnose, bounded in memory. */
export const PAYLOAD_KEPT = 1024

export function keptPayload(payload: Buffer | string): string {
  const buf = typeof payload === 'string' ? Buffer.from(payload) : payload
  return buf.length > PAYLOAD_KEPT ? `${buf.subarray(0, PAYLOAD_KEPT).toString('utf8')}…(${buf.length} bytes)` : buf.toString('utf8')
}

/** The newest dead letters over all shards, newest first. */
export async function listDeadLetters(redis: RedisClient, keys: Keys, shards: number, limit: number): Promise<DeadLetter[]> {
  const pipeline = redis.pipeline()
  for (let shard = 0; shard < shards; shard++) pipeline.xrevrange(keys.shard(shard).dead, '+', '-', 'COUNT', limit)
  const results = (await pipeline.exec()) ?? []
  const all: DeadLetter[] = []
  results.forEach(([err, entries], shard) => {
    if (err) throw err
    for (const [id, fields] of entries as Array<[string, string[]]>) {
      const f: Record<string, string> = {}
      for (let i = 0; i < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!
      all.push({
        id,
        at: Number(id.slice(0, id.indexOf('-'))),
        shard,
        code: f.code as ErrorCode,
        reason: f.reason ?? '',
        src: f.src ?? '',
        ...(f.topic ? { topic: f.topic } : {}),
        ...(f.twin ? { twin: f.twin } : {}),
        ...(f.event ? { event: f.event } : {}),
        payload: f.payload ?? '',
      })
    }
  })
  return all.sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1)).slice(0, limit)
}

/** Dead letters ever recorded, per reason code, over all shards. */
export async function countDeadLetters(redis: RedisClient, keys: Keys, shards: number): Promise<Record<string, number>> {
  const pipeline = redis.pipeline()
  for (let shard = 0; shard < shards; shard++) pipeline.hgetall(keys.shard(shard).deadCounts)
  const counts: Record<string, number> = {}
  for (const [err, value] of (await pipeline.exec()) ?? []) {
    if (err) throw err
    const flat = value as string[] | Record<string, string>
    const pairs = Array.isArray(flat) ? flat : Object.entries(flat).flat()
    for (let i = 0; i < pairs.length; i += 2) counts[pairs[i]!] = (counts[pairs[i]!] ?? 0) + Number(pairs[i + 1])
  }
  return counts
}
