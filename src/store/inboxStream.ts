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

/** An entry for one shard's inbox, as one input message makes it for one target. */
export interface InboxAppend {
  /** the inbox stream key */
  inbox: string
  entry: Omit<InboxEntry, 'id'>
}

/**
 * The keys and arguments of addInboxEntries-n.lua for `appends`, in order:
 * `[numKeys, ...keys, ...groups]`, each group `k, m, m x field/value`.
 */
export function addInboxEntriesArgs(appends: readonly InboxAppend[]): Array<string | number> {
  const keys: string[] = []
  const args: Array<string | number> = []
  for (const { inbox, entry } of appends) {
    let k = keys.indexOf(inbox)
    if (k < 0) k = keys.push(inbox) - 1
    const fields = inboxFields(entry)
    args.push(k + 1, fields.length, ...fields)
  }
  return [keys.length, ...keys, ...args]
}

/**
 * An inbox entry held back (keys.ts `held`): the inbox fields, then
 *   o  its inbox id (its engine time; ids derived from it stay the same)
 * The held stream's own id is kept as `heldId` when read back.
 */
export function heldFields(entry: InboxEntry): string[] {
  return [...inboxFields(entry), 'o', entry.id]
}

export function decodeHeldEntries(items: ReadonlyArray<[string, string[]]>): InboxEntry[] {
  return items.map(([heldId, f]) => {
    const source = f[8] === 's' ? f[9] : undefined
    const entry: InboxEntry = { id: f[f.length - 1]!, type: f[1]!, twinId: f[3]!, event: f[5]!, payload: f[7]!, heldId }
    if (source !== undefined) entry.source = source
    return entry
  })
}
