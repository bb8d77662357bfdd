import { shardRange } from '../model/ids.ts'
import type { DerivedEvent } from '../model/record.ts'
import type { Keys } from '../store/keys.ts'
import { decodeDerivedEvent } from '../store/outboxStream.ts'
import type { RedisClient } from '../store/redis.ts'

export { Keys } from '../store/keys.ts'
export { connectRedis } from '../store/redis.ts'

/** A derived event read from a shard's outbox, with what `ack` needs. */
export interface ConsumedEvent extends DerivedEvent {
  shard: number
  /** the outbox stream entry id */
  streamId: string
}

export interface DerivedEventConsumerOptions {
  redis: RedisClient
  keys: Keys
  /** the engine's shard count (GET /cluster, or SHARDS) */
  shards: number
  /** consumer group: one per consuming service; each group sees every event */
  group: string
  /** this process's name in the group; a restarted process reuses it to get back what it had not acknowledged */
  consumer: string
  /** most entries read per shard per call */
  count?: number
  /** entries another consumer of the group has held unacknowledged this long are taken over (ms) */
  claimIdleMs?: number
}

/**
 * Reads every derived event from the shards' outbox streams through Redis
 * consumer groups (docs/derived-events.md): at least once, in commit order per
 * shard, each event with its stable `id` for de-duplication. Entries the
 * engine keeps for itself (names starting with `$`: rule feeds, commands) are
 * acknowledged and skipped.
 *
 * Retention: the engine trims each outbox to about OUTBOX_MAXLEN entries once
 * its relay has passed them; a group further behind than that loses the
 * oldest entries.
 */
export class DerivedEventConsumer {
  private readonly shards: number[]
  private readonly keysOf: string[]
  /**
   * Per shard: where in this consumer's own pending entries (read before a
   * restart, not acknowledged) the next read starts, or '>' once they are done.
   */
  private readonly cursor: string[]
  private claimedAt = 0

  constructor(private readonly o: DerivedEventConsumerOptions) {
    this.shards = shardRange(o.shards)
    this.keysOf = this.shards.map((s) => o.keys.shard(s).outbox)
    this.cursor = this.shards.map(() => '0')
  }

  /** Creates the group on every outbox (from the start of what is retained); idempotent. */
  async start(): Promise<void> {
    await Promise.all(
      this.keysOf.map((key) =>
        this.o.redis.xgroup('CREATE', key, this.o.group, '0', 'MKSTREAM').catch((err: Error) => {
          if (!err.message.includes('BUSYGROUP')) throw err
        }),
      ),
    )
  }

  /**
   * The next events, oldest first per shard: first what this consumer had read
   * and not acknowledged, then what others left idle too long, then new ones.
   * Empty when there is nothing to read (poll again later).
   */
  async read(): Promise<ConsumedEvent[]> {
    const { redis, group, consumer } = this.o
    const count = this.o.count ?? 100
    const idle = this.o.claimIdleMs ?? 60_000
    // Now and then, take over what consumers that died left unacknowledged.
    const claimNow = Date.now() - this.claimedAt >= idle / 2
    if (claimNow) this.claimedAt = Date.now()
    const replies = await Promise.all(
      this.keysOf.map(async (key, i) => {
        const from = this.cursor[i]!
        if (from !== '>') {
          const own = (await this.readGroup(key, from, count)) ?? []
          if (own.length) {
            this.cursor[i] = own[own.length - 1]![0]
            return own
          }
          this.cursor[i] = '>'
        }
        if (claimNow || from !== '>') {
          const claimed = (await redis.xautoclaim(key, group, consumer, idle, '0-0', 'COUNT', count)) as unknown as [string, Array<[string, string[]] | null>]
          const taken = claimed[1].filter((e): e is [string, string[]] => e !== null && e[1] !== null)
          if (taken.length) return taken
        }
        return (await this.readGroup(key, '>', count)) ?? []
      }),
    )
    const events: ConsumedEvent[] = []
    const internal: Array<Promise<unknown>> = []
    replies.forEach((entries, i) => {
      for (const [streamId, fields] of entries) {
        // null fields: an entry read before and trimmed since; internal entries are the engine's own.
        const event = fields ? decodeDerivedEvent(fields) : null
        if (!event) internal.push(redis.xack(this.keysOf[i]!, group, streamId))
        else events.push({ ...event, shard: this.shards[i]!, streamId })
      }
    })
    await Promise.all(internal)
    return events
  }

  /** Acknowledges handled events: they are not delivered to this group again. */
  async ack(events: readonly ConsumedEvent[]): Promise<void> {
    await Promise.all(events.map((e) => this.o.redis.xack(this.keysOf[e.shard]!, this.o.group, e.streamId)))
  }

  private async readGroup(key: string, from: string, count: number): Promise<Array<[string, string[]]> | undefined> {
    const xreadgroup = this.o.redis.xreadgroup as unknown as (...args: Array<string | number>) => Promise<Array<[string, Array<[string, string[]]>]> | null>
    const reply = await xreadgroup.call(this.o.redis, 'GROUP', this.o.group, this.o.consumer, 'COUNT', count, 'STREAMS', key, from)
    return reply?.[0]?.[1]
  }
}
