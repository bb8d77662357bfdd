import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { createInboxReader, readLingering, type InboxReader } from './inboxReader.ts'
import { ensureCounts } from './recount.ts'
import { TwinCache } from './twinCache.ts'
import type { Clock } from '../clock.ts'
import { ShardLeases } from '../cluster/shardLeases.ts'
import type { Drivers } from '../core/drivers.ts'
import { applyShardBatch, type ShardBatchResult } from '../core/shardBatch.ts'
import { keysToLoad, type LoadedRecord } from '../core/workingSet.ts'
import { TwinError } from '../errors.ts'
import type { ChangeBus } from '../feed/changeBus.ts'
import type { DueTimer, InboxEntry } from '../model/entries.ts'
import { eventTime, splitTwinKey, twinKey } from '../model/ids.ts'
import type { DerivedEvent, TwinView } from '../model/record.ts'
import { commitShardBatches, type CommitReply } from '../store/commitBatch.ts'
import { readHeldKeys, readHeldPage } from '../store/heldInput.ts'
import { moveApplied, setInputRetention } from '../store/retention.ts'
import type { Keys, ShardKeys } from '../store/keys.ts'
import type { RedisClient } from '../store/redis.ts'
import { META } from '../store/shardMeta.ts'
import { firstDue, readDueTimers } from '../store/timerSet.ts'
import { decodeRecord } from '../store/twinRecords.ts'

export interface WorkerOptions {
  redis: RedisClient
  keys: Keys
  /** the step of every twin type and rule (and, through it, the registry) */
  drivers: Drivers
  bus: ChangeBus
  clock: Clock
  log: Logger
  shards: number
  batchSize: number
  /** BATCH_LINGER_MS: how long a step waits for more input when a read brought little; 0: never */
  lingerMs: number
  cacheSize: number
  leaseTtlMs: number
  /** transitions kept in each twin record */
  historyLength: number
  deadLetterMaxLen: number
  /** keep the input each shard applied for what-if replay (RETAIN_INPUT_MS > 0, ADR 0012) */
  retainInput?: boolean
  /** called after a commit that wrote to a shard's outbox (derived events, rule feeds, commands) */
  onOutbox?: (shard: number) => void
  /** called when this worker takes over a shard (before it is processed) */
  onAcquire?: (shard: number) => void
  /** called when this worker stops owning a shard (handed over, lease lost, stale epoch) */
  onRelease?: (shard: number) => void
  /** how long a step's commits took (seconds, all `shards` in parallel): the commit latency metric */
  onCommit?: (seconds: number, shards: number) => void
  /** publishes each step's committed changes to API processes elsewhere */
  feed?: { publish(workerId: string, views: readonly TwinView[], derived: readonly DerivedEvent[]): void }
}

interface OwnedShard {
  shard: number
  keys: ShardKeys
  epoch: number
  /** last inbox id read (may be ahead of the committed checkpoint while a batch is in flight) */
  lastId: string
  /** due time of the shard's earliest pending timer, Infinity when none */
  nextDue: number
  /** twins whose input is held (stored by a newer definition version than this worker has), with that version */
  held: Map<string, number>
  /** held twins this worker can take back (it has their version), and how far it has read their held input */
  unholding: { keys: string[]; after: string } | null
}

/** Longest a blocking inbox read waits, so due timers and new shards are picked up promptly. */
const MAX_BLOCK_MS = 100

export interface WorkerStats {
  applied: number
  deadLetters: number
  /** routed entries (rule feeds, commands) delivered again and skipped: applied once already */
  duplicates: number
  /** shard batches committed */
  batches: number
  /** worker steps that committed something (each one round trip to commit every shard it touched) */
  steps: number
  commitsRefused: number
}

/**
 * Owns shards and runs their twins: read inbox batches and due timers, step
 * the twins, commit each shard's batch atomically (fenced by its lease epoch),
 * then publish change notices. One loop per worker process; the step is the
 * CPU work, Redis round trips are batched per iteration (DESIGN.md "the path
 * of one event").
 */
export class Worker {
  readonly id = `worker-${randomUUID().slice(0, 8)}`
  readonly cache: TwinCache
  readonly stats: WorkerStats = { applied: 0, deadLetters: 0, duplicates: 0, batches: 0, steps: 0, commitsRefused: 0 }
  private readonly owned = new Map<number, OwnedShard>()
  /**
   * The epoch each shard should run under, set before the (async) take-over
   * reads Redis: a take-over that finishes after a newer one, or after the
   * shard was dropped or handed over, must not install itself.
   */
  private readonly wanted = new Map<number, number>()
  private readonly leases: ShardLeases
  private readonly reader: InboxReader
  private running = false
  private loopDone: Promise<void> = Promise.resolve()
  /** the iteration in flight: a shard handed over waits for it, so no commit follows the release */
  private stepping: Promise<void> = Promise.resolve()

  constructor(private readonly o: WorkerOptions) {
    this.cache = new TwinCache(o.cacheSize)
    this.reader = createInboxReader(o.redis, `${this.id}-inbox`)
    this.leases = new ShardLeases(o.redis, o.keys, { workerId: this.id, shards: o.shards, ttlMs: o.leaseTtlMs, log: o.log, versions: o.drivers.versions }, {
      acquired: (shard, epoch) => this.acquire(shard, epoch),
      lost: (shard) => this.drop(shard, 'lease lost'),
      release: (shards) => this.release(shards),
    })
  }

  get ownedShards(): number[] {
    return [...this.owned.keys()].sort((a, b) => a - b)
  }

  async start(): Promise<void> {
    this.running = true
    await this.leases.start()
    this.o.log.info({ worker: this.id, shards: this.owned.size }, 'worker started')
    this.loopDone = this.loop()
  }

  /** Finishes and commits the batch in flight, then releases the leases. */
  async stop(): Promise<void> {
    this.running = false
    await this.loopDone
    await this.leases.stop()
    this.reader.close()
  }

  private async acquire(shard: number, epoch: number): Promise<void> {
    this.wanted.set(shard, epoch)
    const keys = this.o.keys.shard(shard)
    const [cp, nextDue, counted, held] = await Promise.all([
      this.o.redis.hget(keys.meta, META.checkpoint),
      firstDue(this.o.redis, keys),
      ensureCounts(this.o.redis, keys, epoch, this.o.drivers),
      readHeldKeys(this.o.redis, keys),
      // Before this owner's first commit, which trims the inbox or leaves applied input to retain.
      setInputRetention(this.o.redis, keys, this.o.retainInput === true, this.o.clock.now()),
    ])
    if (this.wanted.get(shard) !== epoch || !counted) return
    this.cache.dropShard(shard)
    // Held twins whose version this worker has are taken back before the inbox is read (their held input comes first).
    const known = [...held].filter(([key, version]) => version <= (this.o.drivers.get(splitTwinKey(key).type)?.definition.version ?? 0)).map(([key]) => key)
    this.owned.set(shard, { shard, keys, epoch, lastId: cp ?? '0-0', nextDue, held, unholding: known.length ? { keys: known, after: '-' } : null })
    this.o.onAcquire?.(shard)
  }

  /** Stops reading shards and waits until the batch in flight (if any) is committed. */
  private async release(shards: number[]): Promise<void> {
    for (const shard of shards) {
      this.wanted.delete(shard)
      this.owned.delete(shard)
    }
    await this.stepping.catch(() => undefined)
    for (const shard of shards) {
      this.cache.dropShard(shard)
      this.o.onRelease?.(shard)
    }
  }

  private drop(shard: number, why: string): void {
    this.wanted.delete(shard)
    if (!this.owned.delete(shard)) return
    this.cache.dropShard(shard)
    this.o.onRelease?.(shard)
    this.o.log.warn({ shard, why }, 'shard released')
  }

  private async loop(): Promise<void> {
    while (this.running) {
      try {
        this.stepping = this.step()
        await this.stepping
      } catch (err) {
        this.o.log.error({ err }, 'worker step failed; resuming every shard from its checkpoint')
        await this.resync()
      }
    }
  }

  /**
   * After a failed step, read positions may be past uncommitted entries: forget
   * them and re-read every shard's checkpoint (nothing uncommitted is in the
   * cache), retrying until Redis answers.
   */
  private async resync(): Promise<void> {
    this.owned.clear()
    while (this.running) {
      await new Promise((r) => setTimeout(r, 500))
      try {
        for (const [shard, epoch] of [...this.wanted]) if (!this.owned.has(shard)) await this.acquire(shard, epoch)
        return
      } catch (err) {
        this.o.log.error({ err }, 'cannot re-read shard checkpoints; retrying')
      }
    }
  }

  /** One iteration: read, step, commit, notify. */
  private async step(): Promise<void> {
    const shards = [...this.owned.values()]
    if (shards.length === 0) {
      await new Promise((r) => setTimeout(r, MAX_BLOCK_MS))
      return
    }
    const work = await this.read(shards)
    if (work.length === 0) return
    const batches = await this.apply(work)
    const started = performance.now()
    const commits = await commitShardBatches(this.o.redis, batches.map((b, i) => ({ keys: work[i]!.shard.keys, commit: { ...b.writes, epoch: work[i]!.shard.epoch, deadLetterMaxLen: this.o.deadLetterMaxLen } })))
    if (this.o.retainInput) this.moveApplied(work, batches)
    this.o.onCommit?.((performance.now() - started) / 1000, work.length)
    this.stats.steps++
    this.settle(work, batches, commits)
  }

  /**
   * With input retention on, the input each committed batch applied moves to
   * the shard's retained stream (ADR 0012). Not awaited: a move that fails
   * leaves the entries in the inbox for the next one.
   */
  private moveApplied(work: ShardWork[], batches: ShardBatchResult[]): void {
    batches.forEach((b, i) => {
      if (!b.writes.checkpoint) return
      const shard = work[i]!.shard
      moveApplied(this.o.redis, shard.keys, this.o.clock.now()).catch((err: unknown) => this.o.log.warn({ err, shard: shard.shard }, 'moving applied input to the retained stream failed; the next commit moves it'))
    })
  }

  /**
   * The next inbox entries of every owned shard (waiting up to the next timer
   * when all are empty) and the timers due now: the shards with work.
   */
  private async read(shards: OwnedShard[]): Promise<ShardWork[]> {
    const { redis, clock, batchSize } = this.o
    // Shards taking back held twins read their held input instead, until it is all applied.
    const unholding = shards.filter((s) => s.unholding)
    if (unholding.length) return Promise.all(unholding.map((s) => this.readHeld(s)))
    const soonest = Math.min(...shards.map((s) => s.nextDue))
    const wait = Math.max(0, Math.min(MAX_BLOCK_MS, soonest - clock.now()))
    const read = await readLingering(this.reader, shards, batchSize, wait, this.o.lingerMs)
    const now = clock.now()
    const due = await Promise.all(shards.map((s) => (s.nextDue <= now ? readDueTimers(redis, s.keys, now, batchSize) : NO_TIMERS)))
    const work: ShardWork[] = []
    shards.forEach((shard, i) => {
      const timers = due[i]!
      // More timers are due than one read takes: fire those first, and leave the
      // shard's inbox for the next round, so no event overtakes an earlier timer.
      const entries = timers.length === batchSize ? NO_ENTRIES : (read[i] ?? NO_ENTRIES)
      if (entries.length) shard.lastId = entries[entries.length - 1]!.id
      if (entries.length || timers.length) work.push({ shard, entries, timers, horizon: horizonOf(entries, timers, batchSize, now) })
    })
    return work
  }

  /** The next page of a shard's held input, for the held twins this worker takes back (the rest stays held). */
  private async readHeld(shard: OwnedShard): Promise<ShardWork> {
    const { keys, after } = shard.unholding!
    const page = await readHeldPage(this.o.redis, shard.keys, after, this.o.batchSize)
    const mine = new Set(keys)
    const entries = page.entries.filter((e) => mine.has(twinKey(e.type, e.twinId)))
    const done = page.entries.length < this.o.batchSize
    if (!done) shard.unholding = { keys, after: page.entries.at(-1)!.heldId! }
    return { shard, entries, timers: NO_TIMERS, horizon: this.o.clock.now(), unhold: { keys, done } }
  }

  /** Loads every twin the batches need that is not in memory (all shards, one round trip), then applies each batch. */
  private async apply(work: ShardWork[]): Promise<ShardBatchResult[]> {
    const { redis, drivers, historyLength } = this.o
    const need = work.map((w) => {
      const keys = keysToLoad(this.cache, w.entries, w.timers.map((t) => t.member))
      // Held twins taken back load too, even those with no held input in this page.
      return w.unhold ? [...new Set([...keys, ...w.unhold.keys.filter((k) => !this.cache.has(k))])] : keys
    })
    const values = await Promise.all(work.map((w, i) => (need[i]!.length ? redis.hmget(w.shard.keys.twins, ...need[i]!) : [])))
    return work.map((w, i) => {
      const loaded = new Map<string, LoadedRecord>(need[i]!.map((key, j) => [key, readRecord(values[i]![j] ?? null)]))
      return applyShardBatch({ registry: drivers.registry, drivers, cache: this.cache, entries: w.entries, timers: w.timers, loaded, historyLength, horizon: w.horizon, held: w.shard.held, unhold: w.unhold })
    })
  }

  /** After the commits: cache and announce what was committed; drop shards whose commit was refused or failed. */
  private settle(work: ShardWork[], batches: ShardBatchResult[], commits: Array<PromiseSettledResult<CommitReply>>): void {
    const views: TwinView[] = []
    const derived: DerivedEvent[] = []
    let failure: unknown
    work.forEach(({ shard: s }, i) => {
      const commit = commits[i]!
      if (commit.status === 'rejected') {
        // Committed or not, we cannot tell: stop reading past it until its checkpoint is re-read.
        if (this.owned.get(s.shard) === s) this.owned.delete(s.shard)
        failure ??= commit.reason
        return
      }
      if (!commit.value.committed) {
        this.refused(s, commit.value.currentEpoch)
        return
      }
      const b = batches[i]!
      s.nextDue = commit.value.nextDue
      this.noteHeld(s, b, work[i]!)
      this.stats.applied += b.applied
      this.stats.deadLetters += b.deadLetters
      this.stats.duplicates += b.duplicates
      this.stats.batches++
      for (const c of b.changed) this.cache.set(c.key, s.shard, c.twin)
      for (const v of b.views) this.o.bus.publishChange(v)
      for (const d of b.derived) this.o.bus.publishDerived(d)
      if (b.writes.outbox.length) this.o.onOutbox?.(s.shard)
      if (this.o.feed) {
        views.push(...b.views)
        derived.push(...b.derived)
      }
    })
    this.o.feed?.publish(this.id, views, derived)
    // The loop's recovery re-reads every wanted shard's checkpoint (and drops its cache).
    if (failure !== undefined) throw failure
  }

  /** After a commit: twins it held are held from now on; a finished take-back ends holding them. */
  private noteHeld(s: OwnedShard, b: ShardBatchResult, w: ShardWork): void {
    for (const { key, version } of b.writes.heldKeys) s.held.set(key, version)
    for (const key of b.writes.unheld) s.held.delete(key)
    if (w.unhold?.done) s.unholding = null
    if (b.writes.heldKeys.length) this.o.log.warn({ shard: s.shard, twins: b.writes.heldKeys.map((h) => h.key).slice(0, 5), held: s.held.size }, 'input held for twins stored by a newer definition version; a worker with that version takes them')
  }

  /** A commit refused for a stale epoch: another worker owns the shard now. */
  private refused(s: OwnedShard, currentEpoch: string): void {
    this.stats.commitsRefused++
    const err = new TwinError('TWIN_ERR_STALE_EPOCH', `shard ${s.shard}: commit refused, epoch ${s.epoch} is stale (now ${currentEpoch})`)
    this.o.log.warn({ shard: s.shard, code: err.code }, err.message)
    if (this.owned.get(s.shard) === s) {
      this.drop(s.shard, 'stale epoch')
      this.leases.forget(s.shard)
    }
  }
}

/** One owned shard's work for one iteration. */
interface ShardWork {
  shard: OwnedShard
  entries: readonly InboxEntry[]
  timers: readonly DueTimer[]
  /** timers due up to this time may fire in this batch (ShardBatchInput.horizon) */
  horizon: number
  /** held twins taken back by this batch (its entries are their held input) */
  unhold?: { keys: string[]; done: boolean }
}

/**
 * How far a batch may fire timers: up to the last timer read when more are
 * due than one read takes, up to the last entry when the inbox read was full
 * (more input waits), else up to now (or the last entry, if Redis's clock is
 * ahead of ours).
 */
function horizonOf(entries: readonly InboxEntry[], timers: readonly DueTimer[], batchSize: number, now: number): number {
  if (timers.length === batchSize) return timers[timers.length - 1]!.due
  const last = entries.length ? eventTime(entries[entries.length - 1]!.id) : -Infinity
  return entries.length === batchSize ? last : Math.max(now, last)
}

const NO_ENTRIES: readonly InboxEntry[] = []
const NO_TIMERS: DueTimer[] = []

/** A stored record, or the error that makes it unreadable (dead-lettered for that twin alone). */
function readRecord(stored: string | null): LoadedRecord {
  if (stored === null) return null
  try {
    return decodeRecord(stored)
  } catch (err) {
    return err as Error
  }
}
