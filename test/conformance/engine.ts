/**
 * The engine side of the conformance suite: twins run by a real worker role
 * (src/roles/workerRole.ts) on a real redis-server, on virtual time, and
 * observed from Redis after every step in the terms of observation.ts.
 *
 * Time. Event time is the inbox stream id (ADR 0002): device events are
 * validated as the Ingestor validates them (validateEvent) and appended to the
 * twin's shard inbox in the store's own encoding (inboxFields) with an
 * explicit stream id `<virtual ms>-<n>`, i.e. what the Ingestor writes with
 * `*` when Redis's clock reads that time. Due checks use the worker's Clock:
 * a VirtualClock moved by the script. After every step the harness waits
 * until the worker has committed everything up to the clock (checkpoint =
 * last entry written, no timer due in the shard's timer set), waking its
 * blocking inbox read (CLIENT UNBLOCK) when only the clock moved.
 *
 * Observations read Redis: the stored record (TwinStore.getRecord, decoded
 * as the worker decodes it) for the faithful context, timers and history,
 * the app view (TwinStore.get) for the JSON context, the shard's timer set
 * for the durable timers, the dead-letter stream for refusals; tags and
 * derived events come from the worker's change notices (its live snapshot).
 */
import { VirtualClock } from '../../src/clock.ts'
import { Drivers } from '../../src/core/drivers.ts'
import type { TwinRegistry } from '../../src/definitions/registry.ts'
import { validateEvent } from '../../src/definitions/validate.ts'
import { ChangeBus } from '../../src/feed/changeBus.ts'
import { shardOf, splitTimerMember, twinKey } from '../../src/model/ids.ts'
import type { DerivedEvent, HistoryEntry, TwinRecord } from '../../src/model/record.ts'
import { startWorkerRole, type WorkerRole } from '../../src/roles/workerRole.ts'
import { ensureShardCount } from '../../src/store/clusterMeta.ts'
import { inboxFields } from '../../src/store/inboxStream.ts'
import type { Keys } from '../../src/store/keys.ts'
import { byName } from '../../src/store/outboxStream.ts'
import type { RedisClient } from '../../src/store/redis.ts'
import { META } from '../../src/store/shardMeta.ts'
import { TwinStore } from '../../src/store/twinStore.ts'
import { toJsonValue } from '../../src/model/values.ts'
import { dropPrefix, freshRedis, silentLog } from '../support/env.ts'
import { historyCause, json, timerName, type Observation, type TimerView } from './observation.ts'

/** What an engine observation adds: the stored record's own values. */
export interface EngineObservation extends Observation {
  /** the context decoded from the stored record (faithful values) */
  stored: unknown
  /** the twin's kept history (record.h) */
  history: HistoryEntry[] | undefined
  /** the shard's timer set for this twin, `id -> due`, against the record's timers */
  timerSet: Record<string, number>
  recordTimers: Record<string, number>
}

export interface EngineOptions {
  registry: TwinRegistry
  start: number
  cacheSize?: number
  shards?: number
  batchSize?: number
  historyLength?: number
}

export const HISTORY_LENGTH = 10

export class EngineHarness {
  readonly clock: VirtualClock
  readonly bus = new ChangeBus()
  readonly store: TwinStore
  role: WorkerRole | undefined
  private readonly drivers: Drivers
  /** the last entry id written per shard */
  private readonly lastIds = new Map<number, string>()
  private lastMs = 0
  private seq = 0
  private readonly derived = new Map<string, DerivedEvent[]>()
  private readonly tags = new Map<string, string[]>()
  private readonly deadSeen = new Set<string>()
  private readonly refusedByTwin = new Map<string, Array<[string, string]>>()

  private constructor(
    readonly redis: RedisClient,
    readonly keys: Keys,
    readonly prefix: string,
    readonly shards: number,
    private readonly o: EngineOptions,
  ) {
    this.clock = new VirtualClock(o.start)
    this.drivers = new Drivers(o.registry)
    this.store = new TwinStore(redis, keys, shards)
    this.bus.onDerived((d) => {
      const key = twinKey(d.type, d.twinId)
      this.derived.set(key, [...(this.derived.get(key) ?? []), d])
    })
    this.bus.onChange((v) => this.tags.set(twinKey(v.type, v.id), [...(v.tags ?? [])].sort()))
  }

  static async start(o: EngineOptions): Promise<EngineHarness> {
    const { redis, keys, prefix } = freshRedis()
    const shards = await ensureShardCount(redis, keys, o.shards ?? 1)
    const h = new EngineHarness(redis, keys, prefix, shards, o)
    await h.startWorker()
    return h
  }

  async startWorker(): Promise<void> {
    this.role = await startWorkerRole({
      redis: this.redis, keys: this.keys, drivers: this.drivers, bus: this.bus, clock: this.clock, log: silentLog, shards: this.shards,
      settings: {
        batchSize: this.o.batchSize ?? 500, cacheSize: this.o.cacheSize ?? 1000, leaseTtlMs: 5000,
        historyLength: this.o.historyLength ?? HISTORY_LENGTH, deadLetterMaxLen: 10_000, outboxMaxLen: 100_000, webhookConcurrency: 1,
      },
    })
  }

  async stopWorker(): Promise<void> {
    if (!this.role) return
    // Stopping waits for the loop, which may sit in its blocking read: end it.
    const stopping = this.role.stop()
    await this.wake()
    await stopping
    this.role = undefined
  }

  async restartWorker(): Promise<void> {
    await this.stopWorker()
    await this.startWorker()
  }

  /** A device event at the current virtual time, validated as ingest does; applied before it resolves when a worker runs. */
  async send(type: string, id: string, event: string, payload: Record<string, unknown> = {}): Promise<void> {
    const definition = this.o.registry.require(type)
    validateEvent(definition, id, event, payload)
    const now = this.clock.now()
    if (now !== this.lastMs) {
      this.lastMs = now
      this.seq = 0
    }
    const entryId = `${now}-${this.seq++}`
    const shard = shardOf(twinKey(type, id), this.shards)
    const fields = inboxFields({ type, twinId: id, event, payload: JSON.stringify(payload) })
    await (this.redis.xadd as unknown as (key: string, ...args: string[]) => Promise<string>).call(this.redis, this.keys.shard(shard).inbox, entryId, ...fields)
    this.lastIds.set(shard, entryId)
    if (this.role) await this.settled()
  }

  /** Moves virtual time forward; the worker fires what falls due before it resolves. */
  async advance(ms: number): Promise<void> {
    this.clock.advance(ms)
    if (this.role) {
      await this.wake()
      await this.settled()
    }
  }

  /** Waits until every shard has applied its last entry and holds no timer due by the clock. */
  async settled(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (let round = 0; ; round++) {
      if (await this.quiet()) break
      if (Date.now() > deadline) throw new Error(`the worker did not settle at virtual time ${this.clock.now()}`)
      // The worker may sit in a blocking read that only a new entry or its 100 ms wait ends.
      if (round % 20 === 19) await this.wake()
      await new Promise((r) => setTimeout(r, 2))
    }
    // The change notices are published right after the commit reply: let them land.
    await new Promise((r) => setImmediate(r))
  }

  private async quiet(): Promise<boolean> {
    const now = this.clock.now()
    for (let shard = 0; shard < this.shards; shard++) {
      const k = this.keys.shard(shard)
      const [cp, due] = await Promise.all([this.redis.hget(k.meta, META.checkpoint), this.redis.zrangebyscore(k.timers, '-inf', String(now), 'LIMIT', 0, 1)])
      const last = this.lastIds.get(shard)
      if ((last !== undefined && cp !== last) || due.length > 0) return false
    }
    return true
  }

  /** Ends the worker's blocking inbox read, so it looks at the clock again. */
  private async wake(): Promise<void> {
    const worker = this.role?.worker
    if (!worker) return
    const list = (await (this.redis as unknown as { client(...a: string[]): Promise<string> }).client('LIST')) as string
    for (const line of list.split('\n')) {
      if (!line.includes(` name=${worker.id}-inbox `)) continue
      const id = /(?:^|\s)id=(\d+)/.exec(line)?.[1]
      if (id) await (this.redis as unknown as { client(...a: string[]): Promise<unknown> }).client('UNBLOCK', id, 'TIMEOUT')
    }
  }

  /** What the engine shows of twin `type/id` now, and what it emitted and refused since the last observation. */
  async observe(type: string, id: string): Promise<EngineObservation> {
    const key = twinKey(type, id)
    await this.readDeadLetters()
    const [record, view, timerSet] = await Promise.all([this.store.getRecord(type, id), this.store.get(type, id), this.timerSet(key)])
    const emitted = (this.derived.get(key) ?? []).map((d) => ({ type: d.name, at: d.at, ...(json(d.data) as object) }))
    this.derived.delete(key)
    const refused = this.refusedByTwin.get(key) ?? []
    this.refusedByTwin.delete(key)
    if (!record || !view) return { value: '', context: undefined, tags: [], timers: [], emitted, refused, done: false, stored: undefined, history: undefined, timerSet, recordTimers: {} }
    const o: EngineObservation = {
      value: record.v,
      context: json(view.context),
      tags: this.tags.get(key) ?? [],
      timers: timersOf(record),
      emitted,
      refused,
      done: record.st === 'done',
      stored: record.c,
      history: record.h,
      timerSet,
      recordTimers: Object.fromEntries(Object.entries(record.t).map(([tid, [due]]) => [tid, due])),
    }
    if (record.st === 'done' && record.o !== undefined) o.output = json(toJsonValue(record.o))
    return o
  }

  async close(): Promise<void> {
    await this.stopWorker()
    await dropPrefix(this.redis, this.prefix)
    await this.redis.quit()
  }

  private async timerSet(key: string): Promise<Record<string, number>> {
    const shard = shardOf(key, this.shards)
    const flat = await this.redis.zrange(this.keys.shard(shard).timers, '0', '-1', 'WITHSCORES')
    const out: Record<string, number> = {}
    for (let i = 0; i < flat.length; i += 2) {
      const m = splitTimerMember(flat[i]!)
      if (m.key === key) out[m.timerId] = Number(flat[i + 1])
    }
    return out
  }

  private async readDeadLetters(): Promise<void> {
    for (let shard = 0; shard < this.shards; shard++) {
      for (const [entryId, fields] of await this.redis.xrange(this.keys.shard(shard).dead, '-', '+')) {
        if (this.deadSeen.has(`${shard}:${entryId}`)) continue
        this.deadSeen.add(`${shard}:${entryId}`)
        const f = byName(fields)
        if (!f.twin) continue
        const list = this.refusedByTwin.get(f.twin) ?? []
        list.push([historyCause(f.event ?? ''), f.code ?? ''])
        this.refusedByTwin.set(f.twin, list)
      }
    }
  }
}

/** The record's pending timers in firing order (due time, then arming order), in the reference's terms. */
function timersOf(record: TwinRecord): TimerView[] {
  return Object.entries(record.t)
    .map(([id, [due, event, seq]]) => ({ id: timerName(id, event.type), due, event: event.type, seq: seq ?? -1 }))
    .sort((a, b) => a.due - b.due || a.seq - b.seq)
    .map(({ seq: _, ...t }) => t)
}
