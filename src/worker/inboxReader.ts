import type { InboxEntry } from '../model/entries.ts'
import { decodeInboxEntries } from '../store/inboxStream.ts'
import type { ShardKeys } from '../store/keys.ts'
import { duplicateRedis, isCluster, type RedisClient } from '../store/redis.ts'

export interface InboxCursor {
  keys: ShardKeys
  /** last inbox id read */
  lastId: string
}

/** Reads the next entries of several shard inboxes, waiting up to `waitMs` when all are empty. */
export interface InboxReader {
  read(cursors: readonly InboxCursor[], count: number, waitMs: number): Promise<Array<InboxEntry[] | undefined>>
  close(): void
}

type XReadReply = Array<[string, Array<[string, string[]]>]>
type XRead = (...args: Array<string | number>) => Promise<XReadReply | null>

/** A read that brought fewer entries than this lingers for more (group commit at low load). */
const LINGER_BELOW = 64

/**
 * A read for one worker step, with group commit at low load: a read that
 * brought a little input waits `lingerMs` (BATCH_LINGER_MS) for more and
 * reads again without blocking, so one step (one commit round trip, one
 * change-feed message) carries several events instead of one. A full read
 * never waits (saturated: batches are full anyway), and nor does an empty
 * one (idle: nothing to group).
 */
export async function readLingering(reader: InboxReader, cursors: readonly InboxCursor[], count: number, waitMs: number, lingerMs: number): Promise<Array<InboxEntry[] | undefined>> {
  const first = await reader.read(cursors, count, waitMs)
  const got = first.reduce((n, items) => n + (items?.length ?? 0), 0)
  if (lingerMs <= 0 || got === 0 || got >= LINGER_BELOW) return first
  await new Promise((r) => setTimeout(r, lingerMs))
  const more = await reader.read(cursors.map((c, i) => ({ keys: c.keys, lastId: first[i]?.at(-1)?.id ?? c.lastId })), count, 0)
  return first.map((items, i) => {
    const extra = more[i]
    if (!extra?.length) return items
    return items ? [...items, ...extra].slice(0, count) : extra
  })
}

/** Waits this long or longer end on Redis' own (100 ms-grained) BLOCK timeout. */
const COARSE_WAIT_MS = 100

/**
 * Standalone Redis: one `XREAD BLOCK` over every owned inbox on a connection
 * of its own: wakes the moment any shard has input, costs nothing when idle.
 *
 * Redis enforces BLOCK timeouts only on its `hz` tick (10 per second by
 * default), so a read meant to end when the next timer is due could overrun
 * by up to 100 ms (measured: timers fired 0–100 ms late, evenly spread). The
 * reader ends the wait itself with `CLIENT UNBLOCK … TIMEOUT` from the main
 * connection, on time.
 */
class BlockingInboxReader implements InboxReader {
  private readonly connection: RedisClient
  private clientId: number | undefined

  constructor(
    private readonly redis: RedisClient,
    name: string,
  ) {
    this.connection = duplicateRedis(redis, name)
    // The id changes with every reconnect.
    this.connection.on('ready', () => {
      this.clientId = undefined
      ;(this.connection as unknown as { client(sub: 'ID'): Promise<number> }).client('ID').then(
        (id) => (this.clientId = id),
        () => undefined,
      )
    })
  }

  async read(cursors: readonly InboxCursor[], count: number, waitMs: number): Promise<Array<InboxEntry[] | undefined>> {
    const args: Array<string | number> = ['COUNT', count]
    let wake: NodeJS.Timeout | undefined
    if (waitMs >= COARSE_WAIT_MS) {
      // No timer due within the wait: Redis' own timeout is precise enough.
      args.push('BLOCK', Math.ceil(waitMs))
    } else if (waitMs > 0) {
      args.push('BLOCK', Math.ceil(waitMs) + 1000)
      const id = this.clientId
      wake = setTimeout(() => {
        if (id !== undefined) void (this.redis as unknown as { client(...a: Array<string | number>): Promise<unknown> }).client('UNBLOCK', id, 'TIMEOUT').catch(() => undefined)
      }, waitMs)
      // Without a client id yet, fall back to Redis' own (coarse) timeout.
      if (id === undefined) args[args.length - 1] = Math.ceil(waitMs)
    }
    args.push('STREAMS', ...cursors.map((c) => c.keys.inbox), ...cursors.map((c) => c.lastId))
    let reply: XReadReply | null
    try {
      reply = await (this.connection.xread as unknown as XRead)(...args)
    } finally {
      clearTimeout(wake)
    }
    const byKey = new Map(reply ?? [])
    return cursors.map((c) => {
      const items = byKey.get(c.keys.inbox)
      return items ? decodeInboxEntries(items) : undefined
    })
  }

  close(): void {
    this.connection.disconnect()
  }
}

const MAX_IDLE_BACKOFF_MS = 50

/**
 * Redis Cluster: a multi-key XREAD must stay in one slot and every shard has
 * its own, so each inbox is read on its own (auto-pipelined, one round trip
 * per node). When nothing arrives the reader backs off from 1 ms up to 50 ms
 * (or the next timer), so an idle cluster is polled ~20 times a second.
 */
class PollingInboxReader implements InboxReader {
  private idle = 0

  constructor(private readonly redis: RedisClient) {}

  async read(cursors: readonly InboxCursor[], count: number, waitMs: number): Promise<Array<InboxEntry[] | undefined>> {
    const xread = this.redis.xread as unknown as XRead
    const replies = await Promise.all(cursors.map((c) => xread.call(this.redis, 'COUNT', count, 'STREAMS', c.keys.inbox, c.lastId)))
    const out = replies.map((reply) => (reply?.[0] ? decodeInboxEntries(reply[0][1]) : undefined))
    if (out.some(Boolean)) {
      this.idle = 0
    } else if (waitMs > 0) {
      this.idle = Math.min(MAX_IDLE_BACKOFF_MS, Math.max(1, this.idle * 2))
      await new Promise((r) => setTimeout(r, Math.min(waitMs, this.idle)))
    }
    return out
  }

  close(): void {}
}

export function createInboxReader(redis: RedisClient, name: string): InboxReader {
  return isCluster(redis) ? new PollingInboxReader(redis) : new BlockingInboxReader(redis, name)
}
