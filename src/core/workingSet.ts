import type { Drivers } from './drivers.ts'
import { migrateRecord } from './migrate.ts'
import type { StepResult, TwinDriver } from './twinDriver.ts'
import { TwinError } from '../errors.ts'
import { splitTimerMember, splitTwinKey, twinKey } from '../model/ids.ts'
import type { LiveTwin, TwinRecord } from '../model/record.ts'

/** A twin as one batch sees it. */
export interface Working {
  key: string
  driver: TwinDriver
  twin: LiveTwin
  /** the record as committed before this batch; null for a twin new in this batch */
  before: TwinRecord | null
  /** the tags of that committed state (for the count deltas); empty for a new twin */
  beforeTags: ReadonlySet<string>
  /** changed by this batch: its record is written at commit */
  dirty: boolean
  /** a new twin's initial step: its derived events count only if the twin is saved */
  init?: StepResult
  /** the version the twin was stored at, when this batch migrated it to the definition's (not yet announced) */
  migratedFrom?: number
  /** migrated by this batch: all its timers are written to the timer set again */
  migrated?: boolean
}

/** What the worker has of a twin that is not in memory: its stored record, none (new twin), or why it cannot be read. */
export type LoadedRecord = TwinRecord | null | Error

/** Twins in memory between batches (the worker's LRU cache). */
export interface TwinLookup {
  get(key: string): LiveTwin | undefined
}

/**
 * The twins one batch touches, each had once: from the batch itself, the
 * cache, the records loaded for it, or new. Nothing here is written back
 * until the batch is committed.
 */
export class WorkingSet {
  private readonly twins = new Map<string, Working>()

  constructor(
    private readonly drivers: Drivers,
    private readonly cache: TwinLookup,
    private readonly loaded: ReadonlyMap<string, LoadedRecord>,
  ) {}

  /**
   * The twin under `key` at engine time `at`, migrated to its definition's
   * version if it was stored by another. A twin that cannot be had (type
   * gone, stored record unreadable or not migratable by this definition,
   * stored by a newer version) comes back as the error, and its input is
   * held or dead-lettered instead of stopping the shard.
   */
  open(key: string, at: number): Working | TwinError {
    let w = this.twins.get(key)
    if (w) return w
    const { type, id } = splitTwinKey(key)
    const driver = this.drivers.get(type)
    if (!driver) return new TwinError('TWIN_ERR_UNKNOWN_TYPE', `twin type "${type}" is no longer defined`)
    const cached = this.cache.get(key)
    try {
      if (cached) {
        w = { key, driver, twin: cached, before: cached.record, beforeTags: cached.snapshot.tags, dirty: false }
      } else {
        const stored = this.loaded.get(key) ?? null
        if (stored instanceof Error) throw stored
        if (stored && stored.d !== driver.definition.version) {
          // Written by another version: migrated now (or refused, the stored record untouched).
          const migrated = migrateRecord(driver, key, stored)
          if (migrated instanceof TwinError) return migrated
          w = { key, driver, twin: { snapshot: driver.restore(migrated), record: migrated }, before: stored, beforeTags: NO_TAGS, dirty: true, migratedFrom: stored.d, migrated: true }
        } else if (stored) {
          const snapshot = driver.restore(stored)
          w = { key, driver, twin: { snapshot, record: stored }, before: stored, beforeTags: snapshot.tags, dirty: false }
        } else {
          const created = driver.create(id, at)
          w = { key, driver, twin: { snapshot: created.snapshot, record: created.record }, before: null, beforeTags: NO_TAGS, dirty: false, init: created }
        }
      }
    } catch (err) {
      if (err instanceof TwinError) return err
      return new TwinError('TWIN_ERR_DEFINITION', `stored twin ${key} cannot be restored by "${type}" version ${driver.definition.version}: ${(err as Error).message}`)
    }
    this.twins.set(key, w)
    return w
  }

  /**
   * The arming order of a pending timer, from the twin as the batch has it
   * (-1 when unknown: armed before the order was kept, or not pending).
   * Creates nothing.
   */
  timerSeq(member: string): number {
    const { key, timerId } = splitTimerMember(member)
    const record = this.twins.get(key)?.twin.record ?? this.cache.get(key)?.record ?? this.loaded.get(key)
    return record && !(record instanceof Error) ? (record.t[timerId]?.[2] ?? -1) : -1
  }

  /** The twins this batch changed, in the order it first touched them. */
  *dirty(): Iterable<Working> {
    for (const w of this.twins.values()) if (w.dirty) yield w
  }
}

const NO_TAGS: ReadonlySet<string> = new Set()

/** Twin keys a batch touches that are not in the cache: the worker loads them first, in one round trip. */
export function keysToLoad(cache: { has(key: string): boolean }, entries: ReadonlyArray<{ type: string; twinId: string }>, timerMembers: readonly string[]): string[] {
  const keys = new Set<string>()
  for (const e of entries) {
    const key = twinKey(e.type, e.twinId)
    if (!cache.has(key)) keys.add(key)
  }
  for (const member of timerMembers) {
    const { key } = splitTimerMember(member)
    if (!cache.has(key)) keys.add(key)
  }
  return [...keys]
}
