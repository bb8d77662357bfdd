import type { EventObject } from 'xstate'
import type { Twin, TwinEvent } from '../client/protocol.ts'
import type { CommandEmit } from '../definitions/commands.ts'
import type { RuleSourceTwin } from '../definitions/defineRule.ts'
import { EVENT_PATTERN } from '../definitions/defineTwin.ts'
import { COMMAND_REQUEST, COMMAND_TIMER_PREFIX } from '../model/engineEvents.ts'
import type { TwinRegistry } from '../definitions/registry.ts'
import { TwinError, type ErrorCode } from '../errors.ts'
import { ID_PATTERN } from '../ingest/validate.ts'
import { splitTwinKey, twinKey } from '../store/keys.ts'
import { fireTimer, stepTwin, type CommandRequestPayload, type EngineStepResult } from './engineSteps.ts'
import { routeStep, sameValue } from './ruleRouting.ts'
import type { TwinCache } from '../worker/twinCache.ts'
import type { CommandState, HistoryEntry, LiveTwin, StepResult, TwinRecord } from './twinDriver.ts'

/** One device event read from a shard inbox. */
export interface InboxEntry {
  /** stream id; its millisecond part is the event's engine time */
  id: string
  type: string
  twinId: string
  event: string
  /** payload JSON (validated at ingest) */
  payload: string
  /**
   * For input routed from another shard's outbox (rule feeds, commands):
   * `<source shard>:<outbox id>`. A twin applies each source's entries once, in order.
   */
  source?: string
}

/** A timer read from the shard's timer ZSET because it fell due. */
export interface DueTimer {
  /** `type/id|timerId` */
  member: string
  due: number
}

/**
 * What apps see of a twin (HTTP, WebSocket, change notices): the protocol's
 * `Twin` (src/client/protocol.ts, shared with the client), commands typed.
 */
export interface TwinView extends Twin {
  commands?: Record<string, CommandState>
}

/** An event a twin emitted, with a stable id for de-duplication (DESIGN.md decision 3). */
export type DerivedEvent = TwinEvent

/**
 * Internal outbox entries (names starting with `$`), relayed by the outbox
 * relay rather than published as derived events:
 * `$feed:<event>` and `$command` go to the inbox of the rule actor or twin in
 * `to` (as `<event>` and `$command`: the data is the inbox payload as is),
 * `$publish` goes to the device as an MQTT command.
 */
export const FEED = '$feed:'
export const COMMAND = '$command'
export const PUBLISH = '$publish'

export interface BatchResult {
  /** last inbox id applied, '' when the batch held only timers */
  checkpoint: string
  /** the counted ARGV sections of commitBatch (see store/lua/commitBatch-9.lua) */
  sections: Array<string | number>
  /** twins whose committed state changes, to put in the cache after the commit */
  changed: Array<{ key: string; twin: LiveTwin }>
  /** every change, one per applied event or timer, in order: the change notices */
  views: TwinView[]
  /** derived events (not the internal outbox entries) */
  derived: DerivedEvent[]
  deadLetters: number
  applied: number
  /** routed entries this batch had applied already (a relay re-delivery) and skipped */
  duplicates: number
  /** entries written to the outbox (derived events, rule feeds, commands) */
  outboxed: number
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
  /** transitions kept per twin (0 = none) */
  historyLength?: number
}): BatchResult {
  const { registry, cache } = input
  const historyLength = input.historyLength ?? 0
  const working = new Map<string, Working>()
  const derived: DerivedEvent[] = []
  /** outbox rows: id, key, name, data JSON, at, to */
  const outbox: Array<string | number> = []
  const dead: Array<string | number> = []
  let duplicates = 0
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

  /**
   * A routed entry the twin did not take (ignored by a rule, refused): its
   * source mark still moves, so a re-delivery in a later state is not applied
   * late. No revision, no change notice. A twin that does not exist yet is
   * not created for it.
   */
  const keepMark = (w: Working, source: string) => {
    if (!w.before && !w.dirty) return
    // The committed record may be the cache's: mark a copy.
    const record = { ...w.twin.record }
    markSource(record, source)
    w.twin = { snapshot: w.twin.snapshot, record }
    w.dirty = true
  }

  /** Records an applied step: the twin will be saved, with its derived events, commands and rule feeds. */
  const applied = (w: Working, key: string, idBase: string, result: EngineStepResult, cause: string) => {
    if (w.init) {
      const u = w.init.record.u
      collectDerived(key, `${key}@${u}:init`, w.init.emitted, u)
      w.init.commands.forEach((c, k) => command(key, `${key}@${u}:init:c${k}`, c, u))
      w.init = undefined
    }
    const prev = w.twin.record
    // A step's record is always a new object: the engine's fields are set on it, not on a copy.
    const record = result.record
    const transition = result.emitted.length || result.publish || cause === 'ack' || cause.startsWith(COMMAND_TIMER_PREFIX) || !sameValue(prev.v, record.v)
    if (historyLength > 0 && transition) {
      const entry: HistoryEntry = { r: record.r, at: record.u, e: result.publish ? `${COMMAND_REQUEST}:${result.publish.name}` : cause, f: prev.v, t: record.v }
      if (result.emitted.length) entry.x = result.emitted.map((e) => e.type)
      record.h = [...(prev.h ?? []), entry].slice(-historyLength)
    }
    w.twin = { snapshot: result.snapshot, record }
    w.dirty = true
    views.push(toView(key, record, result.snapshot.tags))
    const events = collectDerived(key, idBase, result.emitted, record.u)
    result.commands.forEach((c, k) => command(key, `${idBase}:c${k}`, c, record.u))
    if (result.publish) outbox.push(`${idBase}:p`, key, PUBLISH, JSON.stringify(result.publish), record.u, '')
    feedRules(key, prev, record, events, idBase)
  }

  const collectDerived = (key: string, idBase: string, emitted: EventObject[], at: number): DerivedEvent[] => {
    if (emitted.length === 0) return NONE
    const { type, id } = splitTwinKey(key)
    return emitted.map((event, k) => {
      const { type: name, ...data } = event
      const d: DerivedEvent = { id: `${idBase}:${k}`, type, twinId: id, name, at, data }
      derived.push(d)
      outbox.push(d.id, key, name, JSON.stringify(data), at, '')
      return d
    })
  }

  /** A command from a step: to the target twin's inbox, where it is recorded and sent to the device. */
  const command = (from: string, id: string, c: CommandEmit, at: number) => {
    const to = c.to ? twinKey(c.to.type, c.to.id) : registry.rule(splitTwinKey(from).type) ? undefined : from
    let why: string | undefined
    if (!to) why = 'a rule must say which device a command is for (`to`)'
    else if (!registry.get(splitTwinKey(to).type)) why = `no twin type "${splitTwinKey(to).type}" to command`
    else if (!ID_PATTERN.test(splitTwinKey(to).id)) why = `invalid twin id "${splitTwinKey(to).id.slice(0, 128)}"`
    else if (typeof c.name !== 'string' || !EVENT_PATTERN.test(c.name)) why = `command name "${String(c.name).slice(0, 64)}" must match [A-Za-z][A-Za-z0-9_-]{0,63}`
    if (why) {
      deadLetter('TWIN_ERR_COMMAND_INVALID', `command from ${from}: ${why}`, from, COMMAND, JSON.stringify(c))
      return
    }
    const request: CommandRequestPayload = { id, name: c.name, payload: c.payload ?? {}, by: from }
    if (c.timeoutMs !== undefined) request.timeoutMs = c.timeoutMs
    outbox.push(id, from, COMMAND, JSON.stringify(request), at, to!)
  }

  /** Routes a twin's step to the rule actors fed by its type, through the outbox (see ruleRouting.ts). */
  const feedRules = (key: string, prev: TwinRecord, record: TwinRecord, events: DerivedEvent[], idBase: string) => {
    const { type, id } = splitTwinKey(key)
    const routes = registry.routes(type)
    if (routes.length === 0) return
    const after: RuleSourceTwin = { type, id, value: record.v, context: record.c, attributes: record.a ?? {} }
    const before: RuleSourceTwin | null = prev.r === 0 && !prev.a ? null : { type, id, value: prev.v, context: prev.c, attributes: prev.a ?? {} }
    routeStep(routes, before, after, events).forEach((f, n) => {
      const body: Record<string, unknown> = { twinId: id, sourceAt: record.u, value: after.value, context: after.context, attributes: after.attributes }
      if (f.data) body.data = f.data
      outbox.push(`${idBase}:f${n}`, key, FEED + f.event, JSON.stringify(body), record.u, twinKey(f.rule, f.group))
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
      if (entry.source && appliedBefore(w.twin.record, entry.source)) {
        duplicates++
        continue
      }
      const result = stepTwin(registry.driver(entry.type)!, w.twin, entry.event, JSON.parse(entry.payload) as Record<string, unknown>, item.at)
      if (result.error) {
        // A rule takes what it needs of its feed: the rest is no error.
        if (result.error.code !== 'TWIN_ERR_EVENT_NOT_ACCEPTED' || !registry.rule(entry.type)) {
          deadLetter(result.error.code, result.error.message, key, entry.event, entry.payload)
        }
        if (entry.source) keepMark(w, entry.source)
        continue
      }
      if (!result.accepted) {
        if (entry.source) keepMark(w, entry.source)
        continue
      }
      if (entry.source) markSource(result.record, entry.source)
      // Inbox ids are unique per shard only: the twin key makes derived-event ids unique across the engine.
      applied(w, key, `${key}@${entry.id}`, result, entry.event)
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
      const result = fireTimer(registry.driver(splitTwinKey(key).type)!, w.twin, timerId, timer.due)
      if (!result) {
        // Cancelled or re-armed since it was read: drop the entry unless it is pending under a new due time.
        if (!(timerId in w.twin.record.t)) staleTimers.push(timer.member)
        continue
      }
      applied(w, key, `${timer.member}@${timer.due}`, result, timerId)
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

  const checkpoint = input.entries.length ? input.entries[input.entries.length - 1]!.id : ''
  const sections: Array<string | number> = [
    records.length / 2, ...records,
    newKeys.length, ...newKeys,
    timerDel.length, ...timerDel,
    timerAdd.length / 2, ...timerAdd,
    outbox.length / 6, ...outbox,
    dead.length / 5, ...dead,
  ]
  return { checkpoint, sections, changed, views, derived, deadLetters: dead.length / 5, applied: views.length, duplicates, outboxed: outbox.length / 6 }
}

const NONE: DerivedEvent[] = []

/** `ms-seq` stream ids compared as numbers. */
function streamIdAfter(a: string, b: string): boolean {
  const [am, as] = a.split('-').map(Number) as [number, number]
  const [bm, bs] = b.split('-').map(Number) as [number, number]
  return am > bm || (am === bm && as > bs)
}

/** True when the twin has applied this source entry (or a later one of the same source) already. */
function appliedBefore(record: TwinRecord, source: string): boolean {
  const colon = source.indexOf(':')
  const mark = record.s?.[source.slice(0, colon)]
  return mark !== undefined && !streamIdAfter(source.slice(colon + 1), mark)
}

/** Sets the record's mark for the entry's source shard (on the record itself). */
function markSource(record: TwinRecord, source: string): void {
  const colon = source.indexOf(':')
  record.s = { ...record.s, [source.slice(0, colon)]: source.slice(colon + 1) }
}
