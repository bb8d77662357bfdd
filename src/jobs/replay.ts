import { systemClock, type Clock } from '../clock.ts'
import { Drivers } from '../core/drivers.ts'
import { driversWith, replayTwinBothWays, type ReplayTwinInput } from '../core/replay.ts'
import { diffTwin, type TwinDifference } from '../core/replayDiff.ts'
import type { LoadedRecord } from '../core/workingSet.ts'
import type { RuleDefinition } from '../definitions/defineRule.ts'
import type { TwinDefinition } from '../definitions/defineTwin.ts'
import type { TwinRegistry } from '../definitions/registry.ts'
import { TwinError } from '../errors.ts'
import type { InboxEntry } from '../model/entries.ts'
import { shardRange, twinKey } from '../model/ids.ts'
import type { Keys } from '../store/keys.ts'
import type { RedisClient } from '../store/redis.ts'
import { readRetainedInput, readSnapshotRecords, readSnapshots, type Snapshot } from '../store/retention.ts'

/**
 * `twin replay`, as a library call (ADR 0012): runs a candidate definition
 * over the input a data set retained, from each twin's state at the start of
 * the window, and the running definition the same way, on virtual time, and
 * reports how the two differ. It reads Redis and writes nothing: live twins,
 * devices and webhooks never see it.
 */

export interface ReplayOptions {
  redis: RedisClient
  keys: Keys
  shards: number
  /** the running definitions (the data set's TWINS_DIR and RULES_DIR) */
  registry: TwinRegistry
  /** the definition to try: a twin type or rule the registry has */
  candidate: TwinDefinition | RuleDefinition
  /** the type replayed; when given, the candidate must be of it */
  type?: string
  /** only these twin ids (rule groups) */
  ids?: readonly string[]
  /** the window: the last `sinceMs` (default 24 h) */
  sinceMs?: number
  clock?: Clock
  /** differences listed in full; the rest are counted (default 100) */
  limit?: number
}

export interface ReplayReport {
  type: string
  versions: { running: number; candidate: number }
  window: {
    /** where the replay started comparing (ms): the window asked, or later when less is retained */
    from: number
    until: number
    /** the window asked began here */
    asked: number
    /** less was retained than the window asked: the replay starts at `from` */
    partial: boolean
  }
  /** shards with retained input in the window */
  shards: number
  /** twins replayed: with input in the window, or timers pending at its start */
  twins: number
  /** inputs in the window (each applied once by each definition) */
  inputs: number
  /** steps taken in all (inputs and timers, both definitions, and the running one's run up to the window) */
  steps: number
  differ: number
  same: number
  /** per twin that differs, in twin order; at most `limit` */
  differences: TwinDifference[]
  totals: { derivedAdded: number; derivedMissing: number; commandsAdded: number; commandsMissing: number; refusedAdded: number; refusedMissing: number }
  seconds: number
  stepsPerSecond: number
}

const DAY_MS = 86_400_000

/** Runs the replay. Refuses a candidate of another type (TWIN_ERR_REPLAY_DEFINITION) and a data set that retains nothing for it (TWIN_ERR_REPLAY_UNAVAILABLE). */
export async function replayRetained(o: ReplayOptions): Promise<ReplayReport> {
  const started = performance.now()
  const { type, running, candidate } = sides(o)
  const clock = o.clock ?? systemClock
  const until = clock.now()
  const asked = until - (o.sinceMs ?? DAY_MS)
  const bases = await chooseBases(o, asked)
  const report: ReplayReport = {
    type, versions: { running: running.get(type)!.definition.version, candidate: candidate.get(type)!.definition.version },
    window: { from: bases.from, until, asked, partial: bases.from > asked }, shards: bases.shards.length,
    twins: 0, inputs: 0, steps: 0, differ: 0, same: 0, differences: [],
    totals: { derivedAdded: 0, derivedMissing: 0, commandsAdded: 0, commandsMissing: 0, refusedAdded: 0, refusedMissing: 0 }, seconds: 0, stepsPerSecond: 0,
  }
  for (const { shard, base } of bases.shards) {
    for (const twin of await readShard(o, type, shard, base)) {
      const both = replayTwinBothWays(running, candidate, twin, bases.from, Math.max(until, lastInputTime(twin)))
      report.twins++
      report.inputs += both.inputs
      report.steps += both.running.steps.length + both.candidate.steps.length + twin.inputs.length - both.inputs
      const difference = diffTwin(twin.key, both.running, both.candidate)
      if (difference) count(report, difference, o.limit ?? 100)
      else report.same++
    }
  }
  report.differences.sort((a, b) => (a.twin < b.twin ? -1 : a.twin > b.twin ? 1 : 0))
  report.seconds = Math.round(performance.now() - started) / 1000
  report.stepsPerSecond = report.seconds > 0 ? Math.round(report.steps / report.seconds) : report.steps
  return report
}

/** The running drivers and the candidate's, refusing a candidate of another type or one the registry does not run. */
function sides(o: ReplayOptions): { type: string; running: Drivers; candidate: Drivers } {
  const name = (o.candidate as RuleDefinition).kind === 'rule' ? (o.candidate as RuleDefinition).name : (o.candidate as TwinDefinition).type
  if (o.type !== undefined && o.type !== name) {
    throw new TwinError('TWIN_ERR_REPLAY_DEFINITION', `the definition is of type "${name}", and the replay is of "${o.type}": give a definition of "${o.type}" (or leave out --type)`, { type: name, replayed: o.type })
  }
  if (!o.registry.actor(name)) {
    throw new TwinError('TWIN_ERR_REPLAY_DEFINITION', `the definition is of type "${name}", which the running definitions do not have (twin types: ${o.registry.types.join(', ')}${o.registry.rules.length ? `; rules: ${o.registry.rules.map((r) => r.name).join(', ')}` : ''}): nothing ran to compare with`, { type: name })
  }
  const running = new Drivers(o.registry)
  try {
    return { type: name, running, candidate: driversWith(o.registry, o.candidate) }
  } catch (err) {
    throw new TwinError('TWIN_ERR_REPLAY_DEFINITION', `the definition of "${name}" does not fit beside the running ones: ${(err as Error).message}`, { type: name })
  }
}

/**
 * Per shard, the snapshot to start from: the newest at or before the window,
 * of the shard's current generation. When a shard retains less than the
 * window, every shard starts later, at the latest of their oldest snapshots,
 * so the window is one for all.
 */
async function chooseBases(o: ReplayOptions, asked: number): Promise<{ from: number; shards: Array<{ shard: number; base: Snapshot }> }> {
  const all = await Promise.all(shardRange(o.shards).map(async (shard) => {
    const { generation, snapshots } = await readSnapshots(o.redis, o.keys.shard(shard))
    return { shard, usable: snapshots.filter((s) => generation !== '' && s.generation === generation) }
  }))
  const retained = all.filter((s) => s.usable.length > 0)
  if (retained.length === 0) {
    throw new TwinError('TWIN_ERR_REPLAY_UNAVAILABLE', 'this data set retains no input to replay: start the engine with RETAIN_INPUT_MS (e.g. 86400000 for a day) and replay once its workers have taken their first snapshots (at start, then every RETAIN_SNAPSHOT_MS)')
  }
  const from = Math.max(asked, ...retained.map((s) => s.usable[0]!.at))
  return { from, shards: retained.map((s) => ({ shard: s.shard, base: s.usable.filter((x) => x.at <= from).at(-1)! })) }
}

/** One shard's twins of the type (and ids): their records at the snapshot and their input since, grouped per twin. */
async function readShard(o: ReplayOptions, type: string, shard: number, base: Snapshot): Promise<ReplayTwinInput[]> {
  const k = o.keys.shard(shard)
  const ids = o.ids ? new Set(o.ids) : undefined
  const records = await readSnapshotRecords(o.redis, k, base, type, o.ids)
  const inputs = new Map<string, InboxEntry[]>()
  await readRetainedInput(o.redis, k, base.checkpoint, (page) => {
    for (const e of page) {
      if (e.type !== type || (ids && !ids.has(e.twinId))) continue
      const key = twinKey(type, e.twinId)
      const list = inputs.get(key) ?? []
      list.push(e)
      inputs.set(key, list)
    }
  })
  const twins: ReplayTwinInput[] = []
  for (const [key, list] of inputs) twins.push({ key, start: records.get(key) ?? null, inputs: list })
  // Twins with no input since the snapshot still have their timers to fire.
  for (const [key, record] of records) if (!inputs.has(key) && hasTimers(record)) twins.push({ key, start: record, inputs: [] })
  return twins
}

function hasTimers(record: LoadedRecord): boolean {
  return !!record && !(record instanceof Error) && Object.keys(record.t).length > 0
}

function lastInputTime(twin: ReplayTwinInput): number {
  const last = twin.inputs.at(-1)
  return last ? Number(last.id.slice(0, last.id.indexOf('-'))) : 0
}

function count(report: ReplayReport, d: TwinDifference, limit: number): void {
  report.differ++
  const t = report.totals
  t.derivedAdded += d.derived.added.length
  t.derivedMissing += d.derived.missing.length
  t.commandsAdded += d.commands.added.length
  t.commandsMissing += d.commands.missing.length
  t.refusedAdded += d.refused.added.length
  t.refusedMissing += d.refused.missing.length
  if (report.differences.length < limit) report.differences.push(d)
}
