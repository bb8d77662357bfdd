import type { CommandMessage } from '../model/commands.ts'
import type { OutboxEntry } from '../model/entries.ts'
import { splitTwinKey, twinKey } from '../model/ids.ts'
import type { DerivedEvent } from '../model/record.ts'
import type { RedisClient } from './redis.ts'

/**
 * The shard outbox stream's entries, encoded and decoded here and nowhere
 * else. The commit script appends them as given (commitShards-n.lua); the
 * relay and derived-event consumers read them back.
 *
 * Fields:
 *   id  stable id (de-duplication by consumers, exactly-once by routed targets)
 *   k   twin key that produced the entry
 *   n   name: a derived event's name; the engine's own entries start with `$`:
 *         `$feed:<event>`  a rule feed, for the target's inbox as `<event>`
 *         `$command`       a command, for the device twin's inbox as `$command`
 *         `$publish`       a recorded command, published to the device
 *         `$topic`         a derived event's payload for the MQTT topic it named (ADR 0021)
 *   d   data JSON: the derived event's fields, the routed payload, { name, message }, or { topic, payload }
 *   at  engine time of the step (ms)
 *   to  target twin key (routed entries only)
 */
const FEED = '$feed:'
const PUBLISH = '$publish'
const TOPIC = '$topic'

/** True for entries the engine relays for itself (consumers skip them). */
export function isInternalName(name: string): boolean {
  return name.startsWith('$')
}

export function outboxFields(entry: OutboxEntry): string[] {
  switch (entry.kind) {
    case 'derived': {
      const e = entry.event
      return ['id', e.id, 'k', twinKey(e.type, e.twinId), 'n', e.name, 'd', JSON.stringify(e.data), 'at', String(e.at)]
    }
    case 'routed': {
      // `$command` keeps its own name; any other routed event is a rule feed.
      const name = isInternalName(entry.event) ? entry.event : FEED + entry.event
      return ['id', entry.id, 'k', entry.from, 'n', name, 'd', entry.payload, 'at', String(entry.at), 'to', entry.to]
    }
    case 'publish':
      return ['id', entry.id, 'k', entry.key, 'n', PUBLISH, 'd', JSON.stringify({ name: entry.name, message: entry.message }), 'at', String(entry.at)]
    case 'topic':
      return ['id', entry.id, 'k', entry.key, 'n', TOPIC, 'd', JSON.stringify({ topic: entry.topic, payload: entry.payload }), 'at', String(entry.at)]
  }
}

/** An outbox stream entry's fields (as XRANGE returns them) -> the entry. */
export function decodeOutboxEntry(fields: readonly string[]): OutboxEntry {
  const f = byName(fields)
  const at = Number(f.at)
  if (f.to !== undefined) {
    const event = f.n!.startsWith(FEED) ? f.n!.slice(FEED.length) : f.n!
    return { kind: 'routed', id: f.id!, from: f.k!, to: f.to, event, payload: f.d!, at }
  }
  if (f.n === PUBLISH) {
    const { name, message } = JSON.parse(f.d!) as { name: string; message: CommandMessage }
    return { kind: 'publish', id: f.id!, key: f.k!, name, message, at }
  }
  if (f.n === TOPIC) {
    const { topic, payload } = JSON.parse(f.d!) as { topic: string; payload: string }
    return { kind: 'topic', id: f.id!, key: f.k!, topic, payload, at }
  }
  return { kind: 'derived', event: derivedEvent(f) }
}

/** An outbox entry as read back: its stream id and the entry. */
export interface OutboxRead {
  streamId: string
  entry: OutboxEntry
}

/** Up to `count` entries of an outbox after stream id `after` ('' = from the start), oldest first. */
export async function readOutbox(redis: RedisClient, outbox: string, after: string, count: number): Promise<OutboxRead[]> {
  const entries = (await redis.xrange(outbox, after ? `(${after}` : '-', '+', 'COUNT', count)) as Array<[string, string[]]>
  return entries.map(([streamId, fields]) => ({ streamId, entry: decodeOutboxEntry(fields) }))
}

/** The derived event of an outbox entry's fields, or null for the engine's own entries. */
export function decodeDerivedEvent(fields: readonly string[]): DerivedEvent | null {
  const f = byName(fields)
  return isInternalName(f.n!) ? null : derivedEvent(f)
}

function derivedEvent(f: Record<string, string>): DerivedEvent {
  const { type, id } = splitTwinKey(f.k!)
  return { id: f.id!, type, twinId: id, name: f.n!, at: Number(f.at), data: JSON.parse(f.d!) as Record<string, unknown> }
}

/** A stream entry's flat field list (`[name, value, …]`) as an object. */
export function byName(fields: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 0; i < fields.length; i += 2) out[fields[i]!] = fields[i + 1]!
  return out
}
