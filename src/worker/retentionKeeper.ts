import type { Logger } from 'pino'
import type { Clock } from '../clock.ts'
import type { Keys, ShardKeys } from '../store/keys.ts'
import type { RedisClient } from '../store/redis.ts'
import { dropRetained, readSnapshots, retainedBytes, takeSnapshot, type Snapshot } from '../store/retention.ts'

/** Input retention's bounds, per shard (ADR 0012). */
export interface RetentionBounds {
  /** how long applied input is kept (RETAIN_INPUT_MS) */
  retainMs: number
  /** Redis memory the shard's retained input and snapshots may take (RETAIN_MAX_BYTES / shards) */
  maxBytes: number
  /** interval between base snapshots (RETAIN_SNAPSHOT_MS) */
  snapshotMs: number
}

/** What one pass over a shard did. */
export interface KeptShard {
  shard: number
  taken: Snapshot | null
  dropped: number
  trimmed: number
  bytes: number
}

/** Longest time between two passes: bytes are checked at least this often. */
const MAX_PASS_MS = 60_000

/**
 * Keeps each owned shard's retained input within its bounds (ADR 0012): a
 * base snapshot of its twins every `snapshotMs`; then, oldest first, drops
 * the snapshots a replay of the last `retainMs` no longer needs (it starts
 * from the newest snapshot at or before its window) or that the memory bound
 * cannot hold, with the input before the oldest snapshot kept. When the input
 * since the newest snapshot alone is over the bound, a fresh snapshot is
 * taken and everything older goes: the replayable window shrinks, memory
 * stays bounded. Runs beside the shard loop, never in it.
 */
export class RetentionKeeper {
  private timer: NodeJS.Timeout | undefined
  private passing: Promise<unknown> = Promise.resolve()
  private warned = new Set<number>()

  constructor(
    private readonly o: { redis: RedisClient; keys: Keys; clock: Clock; log: Logger; bounds: RetentionBounds; owned: () => readonly number[] },
  ) {}

  /** Passes now (a first snapshot of the shards owned so far) and then every min(snapshotMs, 60 s). */
  start(): void {
    const run = () => {
      this.passing = this.pass().catch((err: unknown) => this.o.log.warn({ err }, 'input retention pass failed; the next one retries'))
    }
    run()
    this.timer = setInterval(run, Math.min(MAX_PASS_MS, this.o.bounds.snapshotMs))
    this.timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    await this.passing
  }

  /** One pass over every shard this worker owns. */
  async pass(): Promise<KeptShard[]> {
    const out: KeptShard[] = []
    for (const shard of this.o.owned()) out.push(await this.keep(shard))
    return out
  }

  /** One shard: a snapshot when due, then the bounds of time and bytes. */
  async keep(shard: number): Promise<KeptShard> {
    const k = this.o.keys.shard(shard)
    const now = this.o.clock.now()
    const { generation, snapshots: all } = await readSnapshots(this.o.redis, k)
    // Snapshots of an older generation cannot be replayed (a gap in the input since): they go first.
    const stale = all.filter((s) => s.generation !== generation || generation === '')
    let kept = all.filter((s) => s.generation === generation && generation !== '')
    let taken: Snapshot | null = null
    const newest = kept.at(-1)
    if (generation !== '' && (!newest || now - newest.at >= this.o.bounds.snapshotMs)) {
      taken = await takeSnapshot(this.o.redis, k, now)
      if (taken) kept.push(taken)
    }
    // Time: the newest snapshot at or before the window's start is the oldest one a replay needs.
    let base = 0
    kept.forEach((s, i) => {
      if (s.at <= now - this.o.bounds.retainMs) base = i
    })
    const old = kept.slice(0, base)
    kept = kept.slice(base)
    let trimmed = await dropRetained(this.o.redis, k, [...stale, ...old], kept[0]?.checkpoint ?? '')
    const bounded = await this.bound(shard, k, kept, taken !== null)
    trimmed += bounded.trimmed
    return { shard, taken: bounded.taken ?? taken, dropped: stale.length + old.length + bounded.dropped, trimmed, bytes: bounded.bytes }
  }

  /**
   * Drops snapshots, oldest first, with the input only they could start
   * from, until what is left fits the memory bound; when only the newest is
   * left and it does not fit, a fresh snapshot replaces it and the input
   * before it goes. Measured again after each drop (MEMORY USAGE).
   */
  private async bound(shard: number, k: ShardKeys, snapshots: Snapshot[], fresh: boolean): Promise<{ dropped: number; trimmed: number; taken: Snapshot | null; bytes: number }> {
    const max = this.o.bounds.maxBytes
    let kept = snapshots
    let dropped = 0
    let trimmed = 0
    let taken: Snapshot | null = null
    for (;;) {
      const usage = await retainedBytes(this.o.redis, k, kept)
      const bytes = usage.input + usage.snapshots.reduce((a, b) => a + b, 0)
      if (bytes <= max || kept.length === 0) return { dropped, trimmed, taken, bytes }
      if (kept.length > 1) {
        trimmed += await dropRetained(this.o.redis, k, [kept[0]!], kept[1]!.checkpoint)
        kept = kept.slice(1)
        dropped++
        continue
      }
      const replacement: Snapshot | null = fresh || taken ? null : await takeSnapshot(this.o.redis, k, this.o.clock.now())
      if (!replacement) {
        this.warnOnce(shard, usage.snapshots[0] ?? 0, max)
        return { dropped, trimmed, taken, bytes }
      }
      trimmed += await dropRetained(this.o.redis, k, kept, replacement.checkpoint)
      dropped += kept.length
      kept = [replacement]
      taken = replacement
    }
  }

  private warnOnce(shard: number, snapshotBytes: number, maxBytes: number): void {
    if (this.warned.has(shard)) return
    this.warned.add(shard)
    this.o.log.warn({ shard, snapshotBytes, maxBytes }, 'the newest snapshot of this shard and the input after it are over its share of RETAIN_MAX_BYTES: only they are kept; raise RETAIN_MAX_BYTES or lower RETAIN_SNAPSHOT_MS')
  }
}
