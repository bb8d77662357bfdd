import type { Logger } from 'pino'
import { TwinError } from '../errors.ts'
import type { RedisHealth } from '../store/redisHealth.ts'
import type { Keys } from '../store/keys.ts'
import type { RedisClient } from '../store/redis.ts'

export interface IngestGateOptions {
  health: RedisHealth
  redis: RedisClient
  keys: Keys
  shards: number
  /** INBOX_MAX_LENGTH: entries in a shard's inbox above which its writes wait; 0: no bound */
  inboxMaxLength: number
  log: Logger
  /** how often inbox lengths are read (default 500 ms) */
  intervalMs?: number
}

export interface IngestGateStats {
  /** writes waiting at the gate now (their PUBACKs withheld) */
  held: number
  /** writes that ever had to wait */
  heldTotal: number
  /** shards whose inbox is over INBOX_MAX_LENGTH now */
  fullShards: number[]
}

/**
 * A write dropped at the gate because the connection it came on is gone: its
 * PUBACK can no longer be sent, and the device (or the broker) sends the
 * event again, so writing it too would apply it twice. Not an input error:
 * never dead-lettered.
 */
export class WriteCancelled extends Error {
  constructor() {
    super('the connection this event came on closed while it waited; it will be sent again')
    this.name = 'WriteCancelled'
  }
}

/** A full shard opens again below this share of the bound, so it does not flap at the edge. */
const REOPEN_AT = 0.9

/**
 * Flow control in front of the inboxes (issue 15). A write waits here, and
 * with it the device's PUBACK, while
 * - Redis is down or refuses writes (RedisHealth): nothing is lost, the
 *   device keeps what it sent (unacknowledged) and the engine holds the
 *   rest until Redis is back;
 * - its shard's inbox is longer than INBOX_MAX_LENGTH: the workers are
 *   behind, and an unbounded inbox would fill Redis until it runs out of
 *   memory.
 * MQTT's own flow control does the rest: a device (or the external broker's
 * session to ingest) stops sending once its window of unacknowledged
 * messages is full. Waiters are released in arrival order, so each device's
 * order holds. HTTP callers are not made to wait: `check` answers at once.
 */
export class IngestGate {
  readonly stats: IngestGateStats = { held: 0, heldTotal: 0, fullShards: [] }
  private readonly full = new Set<number>()
  private waiters: Array<{ shard: number; go: () => void }> = []
  /** waiters per shard: a write to a shard with waiters queues behind them (per-device order) */
  private readonly waiting = new Map<number, number>()
  private timer: NodeJS.Timeout | undefined
  private reading = false

  constructor(private readonly o: IngestGateOptions) {
    o.health.onChange(() => this.release())
  }

  start(): void {
    if (this.o.inboxMaxLength <= 0) return
    this.timer = setInterval(() => void this.readLengths(), this.o.intervalMs ?? 500)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
    // Stopping lets everything through: the writes then fail or succeed on their own.
    for (const w of this.waiters.splice(0)) w.go()
    this.waiting.clear()
    this.stats.held = 0
  }

  /** Whether a write to `shard` may go now. */
  isOpen(shard: number): boolean {
    return this.o.health.up && !this.full.has(shard)
  }

  /** Undefined when a write to `shard` may go at once; else a promise that resolves when it may. */
  pass(shard: number): Promise<void> | undefined {
    if (this.isOpen(shard) && !this.waiting.has(shard)) return undefined
    this.stats.held++
    this.stats.heldTotal++
    this.waiting.set(shard, (this.waiting.get(shard) ?? 0) + 1)
    return new Promise((go) => this.waiters.push({ shard, go }))
  }

  /** For callers that answer at once (HTTP): throws the reason a write to `shard` cannot go now. */
  check(shard: number): void {
    const c = this.o.health.condition
    if (c.status !== 'up') throw new TwinError('TWIN_ERR_REDIS_UNAVAILABLE', `${c.reason}; nothing was written: retry later`)
    if (this.full.has(shard)) {
      throw new TwinError('TWIN_ERR_INBOX_FULL', `shard ${shard}'s inbox holds more than INBOX_MAX_LENGTH=${this.o.inboxMaxLength} entries (the workers are behind); nothing was written: retry later`)
    }
  }

  /**
   * Lets the waiting writes of every open shard go, in arrival order. One
   * device's writes all go to one shard, so its order holds; a full shard
   * does not hold up the others.
   */
  private release(): void {
    const go: Array<() => void> = []
    const stay: typeof this.waiters = []
    for (const w of this.waiters) (this.isOpen(w.shard) ? go.push(w.go) : stay.push(w))
    if (go.length === 0) return
    this.waiters = stay
    this.waiting.clear()
    for (const w of stay) this.waiting.set(w.shard, (this.waiting.get(w.shard) ?? 0) + 1)
    this.stats.held = stay.length
    for (const resolve of go) resolve()
  }

  private async readLengths(): Promise<void> {
    if (this.reading || !this.o.health.up) return
    this.reading = true
    try {
      const shards = Array.from({ length: this.o.shards }, (_, i) => i)
      const lengths = await Promise.all(shards.map((s) => this.o.redis.xlen(this.o.keys.shard(s).inbox)))
      const max = this.o.inboxMaxLength
      for (const s of shards) {
        const n = lengths[s]!
        if (n > max && !this.full.has(s)) {
          this.full.add(s)
          this.o.log.warn({ code: 'TWIN_ERR_INBOX_FULL', shard: s, length: n, max }, 'inbox over INBOX_MAX_LENGTH: its writes wait (PUBACKs withheld) until the workers catch up')
        } else if (n < max * REOPEN_AT && this.full.delete(s)) {
          this.o.log.info({ shard: s, length: n }, 'inbox below its bound again')
        }
      }
      this.stats.fullShards = [...this.full].sort((a, b) => a - b)
      this.release()
    } catch {
      // Redis trouble: RedisHealth reports it; the next tick reads again.
    } finally {
      this.reading = false
    }
  }
}
