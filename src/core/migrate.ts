import { Script, createContext } from 'node:vm'
import type { EventObject } from 'xstate'
import type { StoredTwinSnapshot, TwinDefinition } from '../definitions/defineTwin.ts'
import { TwinError } from '../errors.ts'
import { splitTwinKey } from '../model/ids.ts'
import type { PendingTimer, TwinRecord } from '../model/record.ts'
import { inspectValue } from '../model/values.ts'
import type { TwinDriver } from './twinDriver.ts'

/** Longest one migration step may run before it counts as looping. */
export const MIGRATION_STEP_MS = 1000

/**
 * Brings a stored record written by an older version of its definition to the
 * current one, through the definition's migrations (n -> n+1, in order), and
 * checks the result: its state exists in the machine, its values can be
 * stored, its context passes the definition's `contextSchema`. Pure: the
 * record given is not changed; a migration that throws, loops (runs over
 * MIGRATION_STEP_MS) or returns what the machine cannot restore is refused
 * with TWIN_ERR_MIGRATION_FAILED naming the twin, the step and why, and the
 * stored record stays as it was. A record at the current version comes back
 * as it is; one at a newer version is refused with TWIN_ERR_VERSION_AHEAD.
 */
export function migrateRecord(driver: TwinDriver, key: string, stored: TwinRecord): TwinRecord | TwinError {
  const definition = driver.definition
  const target = definition.version
  if (stored.d === target) return stored
  if (stored.d > target) {
    return new TwinError('TWIN_ERR_VERSION_AHEAD', `twin ${key} is stored at version ${stored.d} of "${definition.type}"; this engine has version ${target}: a worker with version ${stored.d} takes it`, { twin: key, stored: stored.d, known: target })
  }
  let snapshot = snapshotOf(stored)
  for (let from = stored.d; from < target; from++) {
    const migration = definition.migrations?.[from]
    const fail = (why: string) => new TwinError('TWIN_ERR_MIGRATION_FAILED', `twin ${key} cannot be migrated from version ${stored.d} to ${target} of "${definition.type}": step ${from} -> ${from + 1} ${why}; its stored record is kept as it was`, { twin: key, from: stored.d, to: target, step: from })
    if (!migration) return fail(`has no migration (declare migrations[${from}] in the definition)`)
    const next = runStep(migration, { ...snapshot, version: from }, splitTwinKey(key))
    if (next instanceof Error) return fail(next.message)
    const bad = shapeProblem(next)
    if (bad) return fail(bad)
    snapshot = next
  }
  const record = recordOf(stored, snapshot, target)
  const problem = restoreProblem(driver, record)
  if (problem) return new TwinError('TWIN_ERR_MIGRATION_FAILED', `twin ${key} cannot be migrated from version ${stored.d} to ${target} of "${definition.type}": the migrated twin ${problem}; its stored record is kept as it was`, { twin: key, from: stored.d, to: target })
  return record
}

/** What a migration sees of a stored twin (definitions/defineTwin.ts StoredTwinSnapshot). */
export function snapshotOf(record: TwinRecord): StoredTwinSnapshot {
  const timers: StoredTwinSnapshot['timers'] = {}
  for (const id in record.t) {
    const [due, event] = record.t[id]!
    timers[id] = { due, event }
  }
  const snapshot: StoredTwinSnapshot = { version: record.d, value: record.v, context: record.c, timers }
  if (record.hv) snapshot.historyValue = record.hv
  if (record.a) snapshot.attributes = record.a
  return snapshot
}

/** The migrated record: the snapshot's parts, the engine's own fields (revision, commands, marks, history) kept. */
function recordOf(stored: TwinRecord, s: StoredTwinSnapshot, version: number): TwinRecord {
  const t: Record<string, PendingTimer> = {}
  for (const id in s.timers) {
    const { due, event } = s.timers[id]!
    const seq = stored.t[id]?.[2]
    t[id] = seq === undefined ? [due, event] : [due, event, seq]
  }
  const record: TwinRecord = { ...stored, v: s.value, c: s.context, t, d: version }
  if (s.historyValue && Object.keys(s.historyValue).length) record.hv = s.historyValue
  else delete record.hv
  if (s.attributes && Object.keys(s.attributes).length) record.a = s.attributes
  else delete record.a
  return record
}

/** Why the migrated record cannot be the twin (a state the machine lacks, unstorable values, a context its schema refuses), or undefined. */
function restoreProblem(driver: TwinDriver, record: TwinRecord): string | undefined {
  try {
    driver.restore(record)
  } catch (err) {
    return `is in a state the machine does not have (${JSON.stringify(record.v)}: ${(err as Error).message})`
  }
  for (const [value, path] of [[record.c, 'context'], ...Object.entries(record.t).map(([id, [, e]]) => [e, `timer "${id}"`])] as Array<[unknown, string]>) {
    const kind = inspectValue(value, path)
    if (kind.kind === 'invalid') return `holds ${kind.path}, ${kind.why}`
    if (kind.kind === 'exotic') record.x = 1
  }
  const check = driver.definition.contextCheck
  if (check && !check(record.c)) return `has a context the definition's contextSchema refuses: ${driver.definition.contextCheckText?.() ?? 'invalid'}`
  return undefined
}

function shapeProblem(s: unknown): string | undefined {
  if (!s || typeof s !== 'object') return 'returned no snapshot (return { value, context, timers, … })'
  const snapshot = s as Partial<StoredTwinSnapshot>
  if (typeof snapshot.value !== 'string' && (typeof snapshot.value !== 'object' || snapshot.value === null)) return 'returned no state value'
  if (typeof snapshot.timers !== 'object' || snapshot.timers === null) return 'returned no timers (keep `timers` from the snapshot given)'
  for (const [id, timer] of Object.entries(snapshot.timers)) {
    if (typeof timer?.due !== 'number' || typeof (timer.event as EventObject | undefined)?.type !== 'string') return `returned timer "${id}" without { due, event: { type } }`
  }
  return undefined
}

// One context and script for every migration step: the timeout interrupts a step that loops.
const sandbox = createContext({ step: undefined as unknown, input: undefined as unknown, info: undefined as unknown, output: undefined as unknown })
const call = new Script('output = step(input, info)')

function runStep(migration: NonNullable<TwinDefinition['migrations']>[number], input: StoredTwinSnapshot, info: { type: string; id: string }): StoredTwinSnapshot | Error {
  Object.assign(sandbox, { step: migration, input: structuredClone(input), info, output: undefined })
  try {
    call.runInContext(sandbox, { timeout: MIGRATION_STEP_MS })
    return sandbox.output as StoredTwinSnapshot
  } catch (err) {
    const e = err as Error & { code?: string }
    return new Error(e.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT' ? `ran over ${MIGRATION_STEP_MS} ms (does it loop?)` : `threw: ${e.message}`)
  } finally {
    Object.assign(sandbox, { step: undefined, input: undefined, info: undefined, output: undefined })
  }
}
