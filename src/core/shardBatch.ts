import type { Drivers } from './drivers.ts'
import { fireTimer, stepTwin, type EngineStepResult } from './engineSteps.ts'
import { deliverOutputs } from './outputs.ts'
import { addCountDeltas, countedSame, countKeys, indicatorsHolding, stampCounted } from './stateCounts.ts'
import { deadLetter, emitDerived, feedRules, historyEntry, keepHistory, routeCommand, type EffectSink } from './stepEffects.ts'
import { TimerQueue, type QueuedTimer } from './timerQueue.ts'
import { WorkingSet, type LoadedRecord, type TwinLookup, type Working } from './workingSet.ts'
import type { TwinRegistry } from '../definitions/registry.ts'
import { TwinError } from '../errors.ts'
import { MIGRATE } from '../model/engineEvents.ts'
import type { CountDelta, CountKey, DueTimer, InboxEntry, ShardWrites } from '../model/entries.ts'
import { eventTime, splitTimerMember, streamIdAfter, timerMember, twinKey } from '../model/ids.ts'
import { toView, type DerivedEvent, type LiveTwin, type TwinRecord, type TwinView } from '../model/record.ts'

export interface ShardBatchInput {
  registry: TwinRegistry
  drivers: Drivers
  /** twins in memory (the worker's cache); read only */
  cache: TwinLookup
  entries: readonly InboxEntry[]
  timers: readonly DueTimer[]
  /** records of the twins the batch touches that are not in the cache, loaded before it runs */
  loaded: ReadonlyMap<string, LoadedRecord>
  /** transitions kept per twin (0 = none) */
  historyLength: number
  /** twins of this shard whose input is held (stored by a newer definition version than this worker has), with that version */
  held?: ReadonlyMap<string, number>
  /**
   * Held twins this batch takes back, their version known again: their held
   * input (read back from the held stream) is the batch's entries; `done` on
   * the last page of it, when they stop being held.
   */
  unhold?: { keys: readonly string[]; done: boolean }
  /**
   * The latest time this batch may fire timers up to: the worker's clock, or
   * less when more input waits unread (the last entry read, when the inbox
   * read was full), so that no timer overtakes an event that came before it.
   */
  horizon: number
}

export interface ShardBatchResult {
  /** what the atomic commit writes */
  writes: ShardWrites
  /** twins whose committed state changes, to put in the cache after the commit */
  changed: Array<{ key: string; twin: LiveTwin }>
  /** every change, one per applied event or timer, in order: the change notices */
  views: TwinView[]
  /** derived events (not the engine's own outbox entries) */
  derived: DerivedEvent[]
  applied: number
  deadLetters: number
  /** routed entries this batch had applied already (a relay re-delivery) and skipped */
  duplicates: number
}

/** One batch being applied: its twins, the timers it will fire, and what it writes so far. */
interface Batch extends EffectSink {
  input: ShardBatchInput
  twins: WorkingSet
  timers: TimerQueue
  views: TwinView[]
  staleTimers: string[]
  duplicates: number
  /** input held back in this batch, and the twins newly held (with their stored version) */
  held: InboxEntry[]
  heldKeys: Map<string, number>
  heldApplied: string[]
}

/**
 * Applies one shard's batch (inbox entries and due timers, in time order) to
 * its twins and returns everything the atomic commit must write. Pure: it
 * touches neither Redis nor the cache, so a batch whose commit is refused
 * leaves no trace.
 */
export function applyShardBatch(input: ShardBatchInput): ShardBatchResult {
  const batch: Batch = {
    input,
    twins: new WorkingSet(input.drivers, input.cache, input.loaded),
    timers: new TimerQueue(),
    outbox: [],
    deadLetters: [],
    derived: [],
    views: [],
    staleTimers: [],
    duplicates: 0,
    held: [],
    heldKeys: new Map(),
    heldApplied: [],
  }
  for (const key of input.unhold?.keys ?? []) takeBack(batch, key)
  for (const t of input.timers) if (t.due <= input.horizon) batch.timers.push({ ...t, seq: batch.twins.timerSeq(t.member) })
  // In time order: a timer due at or before an event's time fires before it (ADR 0002), timers
  // armed by this batch's own steps included, so a backlog applies as the events did live.
  for (const entry of input.entries) {
    const at = eventTime(entry.id)
    fireDue(batch, at)
    applyEntry(batch, entry, at)
  }
  fireDue(batch, input.horizon)
  // Held input read back is not the inbox: it moves no checkpoint.
  const last = input.entries.at(-1)
  const checkpoint = last && !last.heldId ? last.id : ''
  const { writes, changed } = collectWrites(batch, checkpoint)
  return { writes, changed, views: batch.views, derived: batch.derived, applied: batch.views.length, deadLetters: writes.deadLetters.length, duplicates: batch.duplicates }
}

/** Fires every queued timer due at or before `time`, in order. */
function fireDue(batch: Batch, time: number): void {
  for (let timer = batch.timers.takeDue(time); timer; timer = batch.timers.takeDue(time)) applyTimer(batch, timer)
}

function applyEntry(batch: Batch, entry: InboxEntry, at: number): void {
  const { registry } = batch.input
  const key = twinKey(entry.type, entry.twinId)
  if (entry.heldId) batch.heldApplied.push(entry.heldId)
  if (isHeld(batch, key)) {
    batch.held.push(entry)
    return
  }
  const w = openTwin(batch, key, at)
  if (w instanceof TwinError) {
    if (w.code === 'TWIN_ERR_VERSION_AHEAD') hold(batch, key, w, entry)
    else deadLetter(batch, w.code, w.message, key, entry.event, entry.payload)
    return
  }
  if (entry.source && appliedBefore(w.twin.record, entry.source)) {
    batch.duplicates++
    return
  }
  const result = stepTwin(w.driver, w.twin, entry.event, JSON.parse(entry.payload) as Record<string, unknown>, at)
  if (result.error || !result.accepted) {
    // A rule takes what it needs of its feed: the rest is no error.
    if (result.error && !(registry.rule(entry.type) && RULE_IGNORES.has(result.error.code))) {
      deadLetter(batch, result.error.code, result.error.message, key, entry.event, entry.payload)
    }
    // Taken without a change (an enabled transition that changes nothing): a new twin exists from it, as XState's actor would.
    if (!result.error && w.init) commitStep(batch, w, `${key}@${entry.id}`, { ...result, record: { ...result.record } }, entry.event)
    if (entry.source) keepMark(w, entry.source)
    return
  }
  if (entry.source) markSource(result.record, entry.source)
  // Inbox ids are unique per shard only: the twin key makes derived-event ids unique across the engine.
  commitStep(batch, w, `${key}@${entry.id}`, result, entry.event)
}

function applyTimer(batch: Batch, timer: QueuedTimer): void {
  const { key, timerId } = splitTimerMember(timer.member)
  // A held twin's timers leave the timer set; they stay in its record, and are set again when it is taken back.
  const w = isHeld(batch, key) ? null : openTwin(batch, key, timer.due)
  if (!w || w instanceof TwinError) {
    if (w?.code === 'TWIN_ERR_VERSION_AHEAD') hold(batch, key, w)
    else if (w) deadLetter(batch, w.code, w.message, key, timerId, '')
    batch.staleTimers.push(timer.member)
    return
  }
  const result = fireTimer(w.driver, w.twin, timerId, timer.due)
  if (!result) {
    // Cancelled or re-armed since it was read: drop the entry unless it is pending under a new due time.
    if (!(timerId in w.twin.record.t)) batch.staleTimers.push(timer.member)
    return
  }
  // Spent even when the machine failed on it: the failure is recorded as a dead letter.
  if (result.error) deadLetter(batch, result.error.code, result.error.message, key, timerId, '')
  commitStep(batch, w, `${timer.member}@${timer.due}`, result, timerId)
}

/** The twin as the batch has it; a twin just migrated to its definition's version is announced as a change first. */
function openTwin(batch: Batch, key: string, at: number): Working | TwinError {
  const w = batch.twins.open(key, at)
  if (w instanceof TwinError || w.migratedFrom === undefined) return w
  const from = w.migratedFrom
  w.migratedFrom = undefined
  const before = w.before!
  const record = { ...w.twin.record, r: before.r + 1, u: Math.max(before.u, at) }
  if (batch.input.historyLength > 0) keepHistory(record, { r: record.r, at: record.u, e: `${MIGRATE}:${from}->${record.d}`, f: before.v, t: record.v }, batch.input.historyLength)
  w.twin = { snapshot: w.twin.snapshot, record }
  batch.views.push(toView(key, record, w.twin.snapshot.tags))
  return w
}

/** Input for a held twin is held too, in order, until a worker with its version takes it back. */
function isHeld(batch: Batch, key: string): boolean {
  return batch.heldKeys.has(key) || (batch.input.held?.has(key) === true && !batch.input.unhold?.keys.includes(key))
}

/** A twin stored by a newer version than this worker has: neither stepped nor overwritten; its input waits (rolling upgrades). */
function hold(batch: Batch, key: string, ahead: TwinError, entry?: InboxEntry): void {
  batch.heldKeys.set(key, Number(ahead.details?.stored))
  if (entry) batch.held.push(entry)
}

/** A held twin taken back: written again (its timers back in the timer set), migrated if need be. */
function takeBack(batch: Batch, key: string): void {
  const w = openTwin(batch, key, batch.input.horizon)
  if (w instanceof TwinError) return
  w.dirty = true
  w.migrated = true
}

/** Refusals a rule actor's feeds may meet without a dead letter: a rule takes what it needs of its feeds. */
const RULE_IGNORES: ReadonlySet<string> = new Set(['TWIN_ERR_EVENT_NOT_ACCEPTED', 'TWIN_ERR_TWIN_DONE'])

/** Takes an applied step into the batch: the twin will be saved with its history, derived events, commands and rule feeds. */
function commitStep(batch: Batch, w: Working, idBase: string, result: EngineStepResult, cause: string): void {
  const { registry, historyLength } = batch.input
  const key = w.key
  if (w.init) initEffects(batch, w)
  const prev = w.twin.record
  // A step's record is always a new object: the engine's fields are set on it, not on a copy.
  const record = result.record
  const entry = historyLength > 0 ? historyEntry(prev, result, cause) : null
  if (entry) keepHistory(record, entry, historyLength)
  queueArmed(batch, key, prev, record)
  w.twin = { snapshot: result.snapshot, record }
  w.dirty = true
  batch.views.push(toView(key, record, result.snapshot.tags))
  const events = emitDerived(batch, key, idBase, result.emitted, record.u)
  deliverOutputs(batch, registry, key, events)
  result.commands.forEach((c, k) => routeCommand(batch, registry, key, `${idBase}:c${k}`, c, record.u))
  if (result.publish) {
    const { name, message } = result.publish
    batch.outbox.push({ kind: 'publish', id: `${idBase}:p`, key, name, message, at: record.u })
  }
  feedRules(batch, registry, key, prev, record, events, idBase)
}

const NO_TIMERS = { t: {} } as TwinRecord

/** Timers the step armed (or re-armed) that fall due within the batch's horizon join its queue. */
function queueArmed(batch: Batch, key: string, prev: TwinRecord, record: TwinRecord): void {
  for (const id in record.t) {
    const [due, , seq] = record.t[id]!
    const old = prev.t[id]
    if (due <= batch.input.horizon && (old?.[0] !== due || old[2] !== seq)) batch.timers.push({ member: timerMember(key, id), due, seq: seq ?? -1 })
  }
}

/** A new twin's initial state's effects (e.g. commands from its first state), once it is saved. */
function initEffects(batch: Batch, w: Working): void {
  const init = w.init!
  w.init = undefined
  queueArmed(batch, w.key, NO_TIMERS, init.record)
  const u = init.record.u
  deliverOutputs(batch, batch.input.registry, w.key, emitDerived(batch, w.key, `${w.key}@${u}:init`, init.emitted, u))
  init.commands.forEach((c, k) => routeCommand(batch, batch.input.registry, w.key, `${w.key}@${u}:init:c${k}`, c, u))
}

/**
 * A routed entry the twin did not take (ignored by a rule, refused): its
 * source mark still moves, so a re-delivery in a later state is not applied
 * late. No revision, no change notice. A twin that does not exist yet is
 * not created for it.
 */
function keepMark(w: Working, source: string): void {
  if (!w.before && !w.dirty) return
  // The committed record may be the cache's: mark a copy.
  const record = { ...w.twin.record }
  markSource(record, source)
  w.twin = { snapshot: w.twin.snapshot, record }
  w.dirty = true
}

/** The records, new keys, timer changes and count deltas of every twin the batch changed. */
function collectWrites(batch: Batch, checkpoint: string): { writes: ShardWrites; changed: ShardBatchResult['changed'] } {
  const writes: ShardWrites = {
    checkpoint, records: [], created: [], timersRemoved: [...batch.staleTimers], timersAdded: [], outbox: batch.outbox, deadLetters: batch.deadLetters, counts: [],
    held: batch.held, heldKeys: [...batch.heldKeys].map(([key, version]) => ({ key, version })), unheld: batch.input.unhold?.done ? [...batch.input.unhold.keys] : [], heldApplied: batch.heldApplied,
  }
  const counts = new Map<string, CountDelta>()
  const changed: ShardBatchResult['changed'] = []
  for (const w of batch.twins.dirty()) {
    const { key } = w
    const { record } = w.twin
    writes.records.push([key, record])
    if (!w.before) writes.created.push(key)
    timerChanges(writes, key, w.before?.t ?? {}, record.t, w.migrated === true)
    stampCounted(w.driver.definition, record, w.twin.snapshot.tags, w.before)
    if (!w.before || !countedSame(w.before, record)) addCountDeltas(counts, countedBefore(w), countKeys(w.driver.definition.type, record))
    changed.push({ key, twin: w.twin })
  }
  writes.counts = [...counts.values()]
  return { writes, changed }
}

/** What a twin was counted with before this batch; a record from before the counts kept it was counted by the recount, from its restored state. */
function countedBefore(w: Working): CountKey[] | null {
  const { before, driver } = w
  if (!before) return null
  return before.g ? countKeys(driver.definition.type, before) : countKeys(driver.definition.type, before, w.beforeTags, indicatorsHolding(driver.definition, before.v, before.c))
}

/**
 * Timer-set removals and additions that take a twin's committed timers to its
 * new ones; `all` writes every timer again (a migrated twin: a refusal before
 * may have left its timers out of the set).
 */
function timerChanges(writes: ShardWrites, key: string, before: TwinRecord['t'], after: TwinRecord['t'], all: boolean): void {
  for (const id in before) if (!(id in after)) writes.timersRemoved.push(timerMember(key, id))
  for (const id in after) {
    const due = after[id]![0]
    if (all || before[id]?.[0] !== due) writes.timersAdded.push({ member: timerMember(key, id), due })
  }
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
