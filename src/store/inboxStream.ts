import type { InboxEntry } from '../model/entries.ts'

/**
 * The shard inbox stream's entries, encoded and decoded here and nowhere else.
 *
 * Fields, always in this order (the reader takes them by position):
 *   t  twin type
 *   i  twin id
 *   e  event name
 *   p  payload JSON
 *   s  source `<shard>:<outbox id>` (only for input routed from an outbox)
 * The entry's stream id is its engine time (ADR 0002).
 */
export function inboxFields(entry: Omit<InboxEntry, 'id'>): string[] {
  const fields = ['t', entry.type, 'i', entry.twinId, 'e', entry.event, 'p', entry.payload]
  if (entry.source !== undefined) fields.push('s', entry.source)
  return fields
}

/** Entries as XREAD / XRANGE return them. */
export function decodeInboxEntries(items: ReadonlyArray<[string, string[]]>): InboxEntry[] {
  return items.map(([id, f]) => {
    const entry: InboxEntry = { id, type: f[1]!, twinId: f[3]!, event: f[5]!, payload: f[7]! }
    if (f.length > 8) entry.source = f[9]!
    return entry
  })
}
