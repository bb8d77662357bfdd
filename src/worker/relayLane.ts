import type { Logger } from 'pino'
import type { Keys } from '../store/keys.ts'
import type { OutboxRead } from '../store/outboxStream.ts'
import type { TailRead } from './outboxTail.ts'
import type { RedisClient } from '../store/redis.ts'
import { moveRelayMark, readRelayMark, type RelayMark } from '../store/shardMeta.ts'

export interface RelayLaneOptions {
  /** names the lane in the log */
  name: string
  /** the shard meta field that records how far this lane got */
  mark: RelayMark
  /** relayed entries kept per outbox for other consumers (approximate) */
  outboxMaxLen: number
  /** reads up to a batch of outbox entries after a stream id ('' = from the start) */
  read(shard: number, after: string): Promise<TailRead>
  /**
   * Delivers this lane's entries of one read (it skips the others); resolves
   * once all of them are delivered, rejects to have the whole read retried.
   */
  deliver(shard: number, entries: readonly OutboxRead[]): Promise<unknown>
}

/**
 * One way out of the shard outboxes, with its own mark per shard (ADR 0045):
 * it reads from its mark, delivers, then moves the mark past what it read.
 * At least once, in outbox order per shard; a failed pass is retried from the
 * mark a second later while the other shards go on. From `forget` until
 * `resume` it relays nothing of a shard, so a worker that lost a shard stops
 * at once, and its new owner's lane takes over from the shard's stored mark
 * (a late pass of the old one cannot move the mark back: markRelayed-2.lua).
 */
export class RelayLane {
  private readonly dirty = new Set<number>()
  private readonly marks = new Map<number, string>()
  /** shards this process's worker no longer owns: not relayed until resumed */
  private readonly lost = new Set<number>()
  private running: Promise<void> | null = null
  private stopped = false
  /** outbox entries this lane has passed, of every kind */
  passed = 0

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly log: Logger,
    private readonly o: RelayLaneOptions,
  ) {}

  /** A shard (re)gained: forget how far this process had got (another worker may have relayed since) and catch up from the stored mark. */
  resume(shard: number): void {
    this.lost.delete(shard)
    this.marks.delete(shard)
    this.notify(shard)
  }

  /** A shard lost or handed over: stop relaying it. */
  forget(shard: number): void {
    this.lost.add(shard)
    this.marks.delete(shard)
    this.dirty.delete(shard)
  }

  notify(shard: number): void {
    if (this.lost.has(shard)) return
    this.dirty.add(shard)
    if (!this.running && !this.stopped) {
      this.running = this.drain().finally(() => {
        this.running = null
        // A shard marked dirty after the loop's last check and before this callback would wait for the next notify.
        if (this.dirty.size) this.notify(this.dirty.values().next().value as number)
      })
    }
  }

  /** Stops after the pass in flight; resolves when it is done (a pass waiting on a down broker never is: race it). */
  stop(): Promise<void> {
    this.stopped = true
    return this.running ?? Promise.resolve()
  }

  private async drain(): Promise<void> {
    while (this.dirty.size && !this.stopped) {
      const shard = this.dirty.values().next().value as number
      this.dirty.delete(shard)
      try {
        if (await this.pass(shard)) this.notify(shard)
      } catch (err) {
        // Retry this shard in a second; the others go on meanwhile.
        this.log.warn({ err, shard, lane: this.o.name }, 'outbox relay failed; retrying')
        setTimeout(() => this.notify(shard), 1000).unref()
      }
    }
  }

  /**
   * One read of a shard's outbox from this lane's mark, delivered, then the
   * mark moved past it. True when there may be more to read already.
   */
  private async pass(shard: number): Promise<boolean> {
    if (this.lost.has(shard)) return false
    const k = this.keys.shard(shard)
    // Taken from the cache without awaiting, so lanes at the same mark read in the same tick and share the read.
    const mark = this.marks.get(shard) ?? (await readRelayMark(this.redis, k.meta, this.o.mark))
    const { entries, more } = await this.o.read(shard, mark)
    if (entries.length === 0 || this.lost.has(shard)) return false
    await this.o.deliver(shard, entries)
    const last = entries[entries.length - 1]!.streamId
    // Once caught up, the same script trims what both lanes passed and is beyond retention.
    const moved = await moveRelayMark(this.redis, k, { mark: this.o.mark, last, keep: more ? 0 : this.o.outboxMaxLen })
    if (moved && !this.lost.has(shard)) this.marks.set(shard, last)
    else this.marks.delete(shard)
    this.passed += entries.length
    return more
  }
}
