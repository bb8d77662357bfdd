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
 * for the durable timers, the outbox for derived events and device commands,
 * the dead-letter stream for refusals; tags come from the worker's change
 * notices (its live snapshot).
 *
 * Rule actors take their feeds as the relay writes them (no validation: a
 * rule has no device events).
 */
import { VirtualClock } from '../../src/clock.ts'
import { Drivers } from '../../src/core/drivers.ts'
import type { TwinRegistry } from '../../src/definitions/registry.ts'
import { validateEvent } from '../../src/definitions/validate.ts'
import { ChangeBus } from '../../src/feed/changeBus.ts'
import type { CommandRequestPayload } from '../../src/model/commands.ts'
import { COMMAND } from '../../src/model/engineEvents.ts'
import { shardOf, splitTimerMember, twinKey } from '../../src/model/ids.ts'
import type { HistoryEntry, TwinRecord } from '../../src/model/record.ts'
import { toJsonValue } from '../../src/model/values.ts'
import { startWorkerRole, type WorkerRole } from '../../src/roles/workerRole.ts'
import { ensureShardCount } from '../../src/store/clusterMeta.ts'
import { inboxFields } from '../../src/store/inboxStream.ts'
import type { Keys } from '../../src/store/keys.ts'
import { byName, decodeOutboxEntry } from '../../src/store/outboxStream.ts'
import type { RedisClient } from '../../src/store/redis.ts'
import { META } from '../../src/store/shardMeta.ts'
import { TwinStore } from '../../src/store/twinStore.ts'
import { dropPrefix, freshRedis, silentLog } from '../support/env.ts'
import { historyCause, json, timerName, type CommandView, type Observation, type TimerView } from './observation.ts'

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
  private readonly tags = new Map<string, string[]>()
  /** per shard, the last dead letter and outbox entry read */
  private readonly deadRead = new Map<number, string>()
  private readonly outboxRead = new Map<number, string>()
  private readonly refusedByTwin = new Map<string, Array<[string, string]>>()
  private readonly emittedByTwin = new Map<string, Array<Record<string, unknown>>>()
  private readonly commandsByTwin = new Map<string, CommandView[]>()

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
        batchSize: this.o.batchSize ?? 500, batchLingerMs: 0, cacheSize: this.o.cacheSize ?? 1000, leaseTtlMs: 5000,
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

  /**
   * A device event at the current virtual time, validated as ingest does (a
   * rule feed as the relay writes it); applied before it resolves when a worker runs.
   */
  async send(type: string, id: string, event: string, payload: Record<string, unknown> = {}): Promise<void> {
    if (!this.o.registry.rule(type)) validateEvent(this.o.registry.require(type), id, event, payload)
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
    await Promise.all([this.readDeadLetters(), this.readOutbox()])
    const [record, view, timerSet] = await Promise.all([this.store.getRecord(type, id), this.store.get(type, id), this.timerSet(key)])
    const emitted = take(this.emittedByTwin, key)
    const commands = take(this.commandsByTwin, key)
    const refused = take(this.refusedByTwin, key)
    if (!record || !view) return { value: '', context: undefined, tags: [], timers: [], emitted, commands, refused, done: false, stored: undefined, history: undefined, timerSet, recordTimers: {} }
    const o: EngineObservation = {
      value: record.v,
      context: json(view.context),
      tags: this.tags.get(key) ?? [],
      timers: timersOf(record),
      emitted,
      commands,
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
      for (const [entryId, fields] of await this.redis.xrange(this.keys.shard(shard).dead, `(${this.deadRead.get(shard) ?? '0-0'}`, '+')) {
        this.deadRead.set(shard, entryId)
        const f = byName(fields)
        if (f.twin) push(this.refusedByTwin, f.twin, [historyCause(f.event ?? ''), f.code ?? ''] as [string, string])
      }
    }
  }

  /** Derived events and device commands, as committed to the outbox (and relayed from there). */
  private async readOutbox(): Promise<void> {
    for (let shard = 0; shard < this.shards; shard++) {
      for (const [entryId, fields] of await this.redis.xrange(this.keys.shard(shard).outbox, `(${this.outboxRead.get(shard) ?? '0-0'}`, '+')) {
        this.outboxRead.set(shard, entryId)
        const entry = decodeOutboxEntry(fields)
        if (entry.kind === 'derived') {
          const d = entry.event
          push(this.emittedByTwin, twinKey(d.type, d.twinId), { type: d.name, at: d.at, ...(json(d.data) as object) })
        } else if (entry.kind === 'routed' && entry.event === COMMAND) {
          const request = JSON.parse(entry.payload) as CommandRequestPayload
          const command: CommandView = { to: entry.to, name: request.name, payload: request.payload }
          if (request.timeoutMs !== undefined) command.timeoutMs = request.timeoutMs
          push(this.commandsByTwin, entry.from, command)
        }
      }
    }
  }
}

function push<T>(map: Map<string, T[]>, key: string, item: T): void {
  const list = map.get(key)
  if (list) list.push(item)
  else map.set(key, [item])
}

function take<T>(map: Map<string, T[]>, key: string): T[] {
  const list = map.get(key) ?? []
  map.delete(key)
  return list
}

/** The record's pending timers in firing order (due time, then arming order), in the reference's terms. */
function timersOf(record: TwinRecord): TimerView[] {
  return Object.entries(record.t)
    .map(([id, [due, event, seq]]) => ({ id: timerName(id, event.type), due, event: event.type, seq: seq ?? -1 }))
    .sort((a, b) => a.due - b.due || a.seq - b.seq)
    .map(({ seq: _, ...t }) => t)
}
