import type { Keys } from './keys.ts'
import { byName } from './outboxStream.ts'
import type { RedisClient } from './redis.ts'
import type { ErrorCode } from '../errors.ts'
import type { DeadLetterWrite } from '../model/entries.ts'
import { shardRange } from '../model/ids.ts'

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

/**
 * A dead-letter stream entry's fields, encoded here and nowhere else:
 * code, reason, then topic / twin / event when known, payload and src.
 * The commit script counts the code (commitShards-n.lua).
 */
export function deadLetterFields(d: DeadLetterWrite): string[] {
  const fields = ['code', d.code, 'reason', d.reason]
  if (d.topic !== undefined) fields.push('topic', d.topic)
  if (d.twin !== undefined) fields.push('twin', d.twin)
  if (d.event !== undefined) fields.push('event', d.event)
  fields.push('payload', d.payload, 'src', d.src)
  return fields
}

/** Bytes of a refused payload kept in its dead letter: enough to diagnose, bounded in memory. */
export const PAYLOAD_KEPT = 1024

export function keptPayload(payload: Buffer | string): string {
  const buf = typeof payload === 'string' ? Buffer.from(payload) : payload
  return buf.length > PAYLOAD_KEPT ? `${buf.subarray(0, PAYLOAD_KEPT).toString('utf8')}…(${buf.length} bytes)` : buf.toString('utf8')
}

/** The newest dead letters over all shards, newest first. */
export async function listDeadLetters(redis: RedisClient, keys: Keys, shards: number, limit: number): Promise<DeadLetter[]> {
  const results = await Promise.all(shardRange(shards).map((shard) => redis.xrevrange(keys.shard(shard).dead, '+', '-', 'COUNT', limit)))
  const all: DeadLetter[] = []
  results.forEach((entries, shard) => {
    for (const [id, fields] of entries) {
      const f = byName(fields)
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
  const perShard = await Promise.all(shardRange(shards).map((shard) => redis.hgetall(keys.shard(shard).deadCounts)))
  const counts: Record<string, number> = {}
  for (const hash of perShard) for (const [code, n] of Object.entries(hash)) counts[code] = (counts[code] ?? 0) + Number(n)
  return counts
}
