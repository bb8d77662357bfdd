import type { TwinRecord } from '../model/record.ts'

/**
 * A twin record as stored in its shard's `twins` hash (one field per twin),
 * encoded and decoded here and nowhere else.
 */
export function encodeRecord(record: TwinRecord): string {
  return JSON.stringify(record)
}

export function decodeRecord(stored: string): TwinRecord {
  return JSON.parse(stored) as TwinRecord
}
