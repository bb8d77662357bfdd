import type { Logger } from 'pino'
import type { Keys } from '../store/keys.ts'
import type { RedisClient } from '../store/redis.ts'

export interface LeaseEvents {
  /** called when this worker gains a shard (epoch is the fencing token) */
  acquired(shard: number, epoch: number): Promise<void> | void
  /** called when this worker loses a shard it held */
  lost(shard: number): void
}

/**
 * Holds shard leases for one worker (DESIGN.md decision 4). Each lease is a
 * key with a TTL naming the owner, plus an epoch that grows on every
 * acquisition; commits carry the epoch, so a worker that lost its lease while
 * paused can never overwrite the new owner's work.
 *
 * With one worker it simply wants every shard. Choosing a subset by
 * rendezvous hashing over live workers is the scale-out step (issue #3).
 */
export class ShardLeases {
  private readonly held = new Map<number, number>()
  private timer: NodeJS.Timeout | undefined
  private renewing: Promise<void> = Promise.resolve()

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly options: { workerId: string; shards: number; ttlMs: number; log: Logger },
    private readonly events: LeaseEvents,
  ) {}

  epoch(shard: number): number | undefined {
    return this.held.get(shard)
  }

  get owned(): number[] {
    return [...this.held.keys()]
  }

  start(): Promise<void> {
    this.timer = setInterval(() => {
      this.renewing = this.renewing.then(() => this.renew())
    }, Math.max(100, Math.floor(this.options.ttlMs / 3)))
    this.renewing = this.renew()
    return this.renewing
  }

  /** Tries to take or renew every wanted shard, in one pipeline. */
  async renew(): Promise<void> {
    const { workerId, shards, ttlMs, log } = this.options
    const pipeline = this.redis.pipeline()
    for (let shard = 0; shard < shards; shard++) {
      const k = this.keys.shard(shard)
      ;(pipeline as unknown as RedisClient).acquireLease(k.lease, k.epoch, workerId, ttlMs)
    }
    let results: Array<[Error | null, unknown]>
    try {
      results = (await pipeline.exec()) ?? []
    } catch (err) {
      log.warn({ err }, 'lease renewal failed; retrying')
      return
    }
    let waiting = 0
    for (let shard = 0; shard < shards; shard++) {
      const [err, value] = results[shard] ?? [new Error('no reply'), null]
      const epoch = err ? -1 : Number(value)
      const had = this.held.get(shard)
      if (epoch > 0 && had === epoch) continue
      if (had !== undefined) {
        this.held.delete(shard)
        this.events.lost(shard)
      }
      if (epoch > 0) {
        this.held.set(shard, epoch)
        await this.events.acquired(shard, epoch)
      } else {
        waiting++
      }
    }
    if (waiting > 0) log.info({ waiting, ttlMs }, 'waiting for shard leases held by another worker to expire')
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    await this.renewing
    const pipeline = this.redis.pipeline()
    for (const shard of this.held.keys()) {
      ;(pipeline as unknown as RedisClient).releaseLease(this.keys.shard(shard).lease, this.options.workerId)
    }
    this.held.clear()
    await pipeline.exec().catch(() => undefined)
  }
}
