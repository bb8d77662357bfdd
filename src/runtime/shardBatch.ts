import type { EventObject } from 'xstate'
import type { TwinRegistry } from '../definitions/registry.ts'
import { TwinError, type ErrorCode } from '../errors.ts'
import { splitTwinKey, twinKey } from '../store/keys.ts'
import type { TwinCache } from './twinCache.ts'
import type { CommandState, LiveTwin, StepResult, TwinRecord } from './twinDriver.ts'

/** One device event read from a shard inbox. */
export interface InboxEntry {
  /** stream id; its millisecond part is the event's engine time */
  id: string
  type: string
  twinId: string
  event: string
  /** payload JSON (validated at ingest) */
  payload: string
}

/** A timer read from the shard's timer ZSET because it fell due. */
export interface DueTimer {
  /** `type/id|timerId` */
  member: string
  due: number
}

/** What apps see of a twin (HTTP, WebSocket, change notices). */
export interface TwinView {
  type: string
  id: string
  value: unknown
  context: unknown
  rev: number
  updatedAt: number
  /** the state's XState tags, when it has any */
  tags?: string[]
  /** attributes, when set */
  attributes?: Record<string, string>
  /** device commands, when any was sent */
  commands?: Record<string, CommandState>
}

/** An event a twin emitted, with a stable id for de-duplication (DESIGN.md decision 3). */
export interface DerivedEvent {
  id: string
  type: string
  twinId: string
  name: string
  at: number
  data: Record<string, unknown>
}

export interface BatchResult {
  /** last inbox id applied, '' when the batch held only timers */
  checkpoint: string
  /** the counted ARGV sections of commitBatch (see store/lua/commitBatch-9.lua) */
  sections: Array<string | number>
  /** twins whose committed state changes, to put in the cache after the commit */
  changed: Array<{ key: string; twin: LiveTwin }>
  /** every change, one per applied event or timer, in order: the change notices */
  views: TwinView[]
  derived: DerivedEvent[]
  deadLetters: number
  applied: number
}

export function timerMember(key: string, timerId: string): string {
  return `${key}|${timerId}`
}

export function eventTime(streamId: string): number {
  return Number(streamId.slice(0, streamId.indexOf('-')))
}

/** The app's view of a record; `tags` come from the live snapshot (readers without one restore it). */
export function toView(key: string, record: TwinRecord, tags?: ReadonlySet<string>): TwinView {
  const { type, id } = splitTwinKey(key)
  const view: TwinView = { type, id, value: record.v, context: record.c, rev: record.r, updatedAt: record.u }
  if (tags?.size) view.tags = [...tags]
  if (record.a) view.attributes = record.a
  if (record.k) view.commands = record.k
  return view
}

interface Working {
  twin: LiveTwin
  /** the record as committed before this batch; null for a twin new in this batch */
  before: TwinRecord | null
  dirty: boolean
  /** a new twin's initial step: its derived events count only if the twin is saved */
  init?: StepResult
}

type Work = { at: number; entry: InboxEntry; timer?: undefined } | { at: number; timer: DueTimer; entry?: undefined }

/** Twin keys a batch touches that are not in the cache: the worker loads them first. */
export function keysToLoad(cache: TwinCache, entries: InboxEntry[], timers: DueTimer[]): string[] {
  const keys = new Set<string>()
  for (const e of entries) {
    const key = twinKey(e.type, e.twinId)
    if (!cache.has(key)) keys.add(key)
  }
  for (const t of timers) {
    const key = t.member.slice(0, t.member.indexOf('|'))
    if (!cache.has(key)) keys.add(key)
  }
  return [...keys]
}

/**
 * Applies one shard's batch (inbox entries and due timers, in time order) to
 * its twins and returns everything the atomic commit must write. It does not
 * touch Redis or the cache: a batch whose commit is refused leaves no trace.
 *
 * `loaded` holds the records of twins not in the cache, fetched in one round
 * trip before the batch runs (null = the twin does not exist yet).
 */
export function processShardBatch(input: {
  registry: TwinRegistry
  cache: TwinCache
  entries: InboxEntry[]
  timers: DueTimer[]
  loaded: Map<string, string | null>
}): BatchResult {
  const { registry, cache } = input
  const working = new Map<string, Working>()
  const derived: DerivedEvent[] = []
  const dead: Array<string | number> = []
  const staleTimers: string[] = []
  const views: TwinView[] = []

  const work: Work[] = []
  for (const timer of input.timers) work.push({ at: timer.due, timer })
  for (const entry of input.entries) work.push({ at: eventTime(entry.id), entry })
  // Stable sort: timers due at or before an event's time fire before it.
  work.sort((a, b) => a.at - b.at)

  /**
   * The twin as this batch sees it: from the batch, the cache, Redis, or new.
   * A twin that cannot be had (type gone, stored record unreadable by this
   * definition) comes back as the error, and its input is dead-lettered
   * instead of stopping the shard.
   */
  const load = (key: string, at: number): Working | TwinError => {
    let w = working.get(key)
    if (w) return w
    const { type, id } = splitTwinKey(key)
    const driver = registry.driver(type)
    if (!driver) return new TwinError('TWIN_ERR_UNKNOWN_TYPE', `twin type "${type}" is no longer defined`)
    const cached = cache.get(key)
    const stored = cached ? undefined : input.loaded.get(key)
    try {
      if (cached) {
        w = { twin: cached, before: cached.record, dirty: false }
      } else if (stored) {
        const record = JSON.parse(stored) as TwinRecord
        w = { twin: { snapshot: driver.restore(record), record }, before: record, dirty: false }
      } else {
        const created = driver.create(id, at)
        w = { twin: { snapshot: created.snapshot, record: created.record }, before: null, dirty: false, init: created }
      }
    } catch (err) {
      if (err instanceof TwinError) return err
      return new TwinError('TWIN_ERR_DEFINITION', `stored twin ${key} cannot be restored by "${type}" version ${driver.definition.version}: ${(err as Error).message}`)
    }
    working.set(key, w)
    return w
  }

  /** Records an applied step: the twin will be saved, with its derived events. */
  const applied = (w: Working, key: string, idBase: string, result: StepResult) => {
    if (w.init) {
      collectDerived(key, `${key}@${w.init.record.u}:init`, w.init)
      w.init = undefined
    }
    w.twin = { snapshot: result.snapshot, record: result.record }
    w.dirty = true
    views.push(toView(key, result.record, result.snapshot.tags))
    collectDerived(key, idBase, result)
  }

  const collectDerived = (key: string, idBase: string, result: StepResult) => {
    if (result.emitted.length === 0) return
    const { type, id } = splitTwinKey(key)
    result.emitted.forEach((event: EventObject, k) => {
      const { type: name, ...data } = event
      derived.push({ id: `${idBase}:${k}`, type, twinId: id, name, at: result.record.u, data })
    })
  }

  const deadLetter = (code: ErrorCode, reason: string, key: string, event: string, payload: string) => {
    dead.push(code, reason, key, event, payload)
  }

  for (const item of work) {
    if (item.entry) {
      const { entry } = item
      const key = twinKey(entry.type, entry.twinId)
      const w = load(key, item.at)
      if (w instanceof TwinError) {
        deadLetter(w.code, w.message, key, entry.event, entry.payload)
        continue
      }
      const result = registry.driver(entry.type)!.step(w.twin, { ...(JSON.parse(entry.payload) as object), type: entry.event, at: item.at })
      if (result.error) {
        deadLetter(result.error.code, result.error.message, key, entry.event, entry.payload)
        continue
      }
      applied(w, key, entry.id, result)
    } else {
      const { timer } = item
      const bar = timer.member.indexOf('|')
      const key = timer.member.slice(0, bar)
      const timerId = timer.member.slice(bar + 1)
      const w = load(key, item.at)
      if (w instanceof TwinError) {
        deadLetter(w.code, w.message, key, timerId, '')
        staleTimers.push(timer.member)
        continue
      }
      const result = registry.driver(splitTwinKey(key).type)!.fire(w.twin, timerId, timer.due)
      if (!result) {
        // Cancelled or re-armed since it was read: drop the entry unless it is pending under a new due time.
        if (!(timerId in w.twin.record.t)) staleTimers.push(timer.member)
        continue
      }
      applied(w, key, `${timer.member}@${timer.due}`, result)
    }
  }

  const records: Array<string | number> = []
  const newKeys: string[] = []
  const timerDel: string[] = [...staleTimers]
  const timerAdd: Array<string | number> = []
  const changed: BatchResult['changed'] = []
  for (const [key, w] of working) {
    if (!w.dirty) continue
    const { record } = w.twin
    records.push(key, JSON.stringify(record))
    if (!w.before) newKeys.push(key)
    const before = w.before?.t ?? {}
    for (const id in before) if (!(id in record.t)) timerDel.push(timerMember(key, id))
    for (const id in record.t) {
      const due = record.t[id]![0]
      if (before[id]?.[0] !== due) timerAdd.push(due, timerMember(key, id))
    }
    changed.push({ key, twin: w.twin })
  }

  const outbox: Array<string | number> = []
  for (const d of derived) outbox.push(d.id, twinKey(d.type, d.twinId), d.name, JSON.stringify(d.data), d.at)

  const checkpoint = input.entries.length ? input.entries[input.entries.length - 1]!.id : ''
  const sections: Array<string | number> = [
    records.length / 2, ...records,
    newKeys.length, ...newKeys,
    timerDel.length, ...timerDel,
    timerAdd.length / 2, ...timerAdd,
    outbox.length / 5, ...outbox,
    dead.length / 5, ...dead,
  ]
  return { checkpoint, sections, changed, views, derived, deadLetters: dead.length / 5, applied: views.length }
}
