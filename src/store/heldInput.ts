import type { InboxEntry } from '../model/entries.ts'
import { decodeHeldEntries } from './inboxStream.ts'
import type { ShardKeys } from './keys.ts'
import type { RedisClient } from './redis.ts'

/**
 * Input held for twins stored by a newer definition version than a shard's
 * owner has (rolling upgrades, docs/twins.md): the held stream (entries
 * encoded by inboxStream.ts heldFields) and the held twins with their
 * versions. The commit script writes both; these read them.
 */

/** The held twins of a shard, with the version each is stored at. */
export async function readHeldKeys(redis: RedisClient, k: ShardKeys): Promise<Map<string, number>> {
  const hash = await redis.hgetall(k.heldKeys)
  return new Map(Object.entries(hash).map(([key, version]) => [key, Number(version)]))
}

/** Up to `count` held entries after the held-stream id `after` ('-' from the start), oldest first. */
export async function readHeldPage(redis: RedisClient, k: ShardKeys, after: string, count: number): Promise<{ entries: InboxEntry[] }> {
  const items = (await redis.xrange(k.held, after === '-' ? '-' : `(${after}`, '+', 'COUNT', count)) as Array<[string, string[]]>
  return { entries: decodeHeldEntries(items) }
}
