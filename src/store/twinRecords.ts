import type { PendingTimer, TwinRecord } from '../model/record.ts'
import { decodeTagged, encodeTagged } from './taggedJson.ts'

/**
 * A twin record as stored in its shard's `twins` hash (one field per twin),
 * encoded and decoded here and nowhere else: JSON, and where the record holds
 * values JSON cannot carry (`x`, model/values.ts), its context, timer events
 * and output in the faithful encoding of taggedJson.ts.
 */
export function encodeRecord(record: TwinRecord): string {
  if (!record.x) return JSON.stringify(record)
  const t: Record<string, unknown> = {}
  for (const id in record.t) {
    const [due, event, seq] = record.t[id]!
    t[id] = seq === undefined ? [due, encodeTagged(event)] : [due, encodeTagged(event), seq]
  }
  const encoded: Record<string, unknown> = { ...record, c: encodeTagged(record.c), t }
  if (record.o !== undefined) encoded.o = encodeTagged(record.o)
  return JSON.stringify(encoded)
}

export function decodeRecord(stored: string): TwinRecord {
  const record = JSON.parse(stored) as TwinRecord
  if (!record.x) return record
  record.c = decodeTagged(record.c)
  for (const id in record.t) {
    const timer = record.t[id]!
    record.t[id] = [timer[0], decodeTagged(timer[1]) as PendingTimer[1], ...(timer.length > 2 ? [timer[2]] : [])] as PendingTimer
  }
  if (record.o !== undefined) record.o = decodeTagged(record.o)
  return record
}
