/**
 * Runs a script through the reference (plain XState) and through the engine
 * in one of the four modes, and compares them (observation.ts):
 *
 * - `live`: one worker, twins cached between events;
 * - `reload`: TWIN_CACHE_SIZE=1 with two twins of the type taking the script
 *   in turns, so each event finds its twin evicted and the worker reloads it
 *   from Redis (both are compared with their own reference);
 * - `restart`: the worker is stopped and a new one started after every
 *   event: nothing survives in memory;
 * - `backlog`: the worker is down while the events are ingested (after the
 *   first, which creates the twin and its timers), then one worker applies
 *   them as a backlog: the end state, every derived event and refusal in
 *   order, and the kept history are compared.
 */
import { expect } from 'vitest'
import type { TwinDefinition } from '../../src/definitions/defineTwin.ts'
import { EngineHarness, HISTORY_LENGTH, type EngineObservation } from './engine.ts'
import { engineHistory, expectedHistory, json, type HistoryStep, type Observation, type ScriptStep } from './observation.ts'
import { ReferenceTwin } from './reference.ts'

export const MODES = ['live', 'reload', 'restart', 'backlog'] as const
export type Mode = (typeof MODES)[number]

export interface ReferenceRun {
  observations: Observation[]
  /** XState's own context after each step (faithful values) */
  contexts: unknown[]
  steps: HistoryStep[]
  /** the script re-arms a pending delayed event under its id: an intentional difference (ReferenceTwin.rearmedPending) */
  rearmedPending: boolean
}

/**
 * The script through plain XState, observed after every step. For a rule
 * actor, feeds its machine does not take are no refusal: the engine routes
 * every change of a source twin to it, and a rule takes what it needs
 * (src/core/shardBatch.ts RULE_IGNORES).
 */
export function referenceRun(twin: TwinDefinition, id: string, start: number, steps: readonly ScriptStep[], rule = false): ReferenceRun {
  const ref = new ReferenceTwin(twin, id, start)
  const observations: Observation[] = []
  const contexts: unknown[] = []
  for (const step of steps) {
    // The engine gets the payload as JSON text (what a device publishes): XState gets the same values (-0 is 0 there).
    if ('send' in step) ref.send(step.send, json(step.payload) as Record<string, unknown> | undefined)
    else ref.advance(step.advance)
    const o = ref.observe()
    if (rule) o.refused = []
    observations.push(o)
    contexts.push(ref.snapshot.context)
  }
  return { observations, contexts, steps: ref.steps, rearmedPending: ref.rearmedPending }
}

export function describeStep(step: ScriptStep): string {
  return 'send' in step ? `${step.send}${step.payload ? ` ${JSON.stringify(step.payload)}` : ''}` : `+${step.advance} ms`
}

/** Engine and reference agree on everything observed after one step. */
export function expectSame(where: string, engine: EngineObservation, ref: Observation, refContext: unknown): void {
  const { stored, history: _, timerSet, recordTimers, ...shown } = engine
  expect(shown, where).toEqual(ref)
  // The stored record holds XState's own values (Date, Map, BigInt, -0 …), not their JSON.
  expect(stored, `${where}: the stored context`).toStrictEqual(refContext)
  // The shard's durable timers are the record's.
  expect(timerSet, `${where}: the shard's timer set`).toEqual(recordTimers)
}

/** The twin ids a mode drives: two for `reload`, so that each evicts the other from a cache of one. */
export function idsOf(mode: Mode, id = 'a'): string[] {
  return mode === 'reload' ? [id, `${id}-2`] : [id]
}

/** Runs a script through the engine in `mode` and compares with the reference after every step. */
export async function conformance(
  twin: TwinDefinition,
  steps: readonly ScriptStep[],
  mode: Mode,
  engine: EngineHarness,
  options: { label?: string; rule?: boolean; id?: string } = {},
): Promise<void> {
  const label = options.label ?? twin.type
  const start = engine.clock.now()
  const ids = idsOf(mode, options.id)
  const refs = new Map(ids.map((id) => [id, referenceRun(twin, id, start, steps, options.rule)]))
  if (mode === 'backlog') return backlog(twin, ids[0]!, steps, engine, refs.get(ids[0]!)!, label)
  for (const [i, step] of steps.entries()) {
    if ('send' in step) {
      for (const id of ids) await engine.send(twin.type, id, step.send, step.payload)
    } else {
      await engine.advance(step.advance)
    }
    for (const id of ids) {
      const ref = refs.get(id)!
      expectSame(`${label} [${mode}] twin ${id}, step ${i + 1} (${describeStep(step)})`, await engine.observe(twin.type, id), ref.observations[i]!, ref.contexts[i])
    }
    if (mode === 'restart' && 'send' in step) await engine.restartWorker()
  }
  for (const id of ids) {
    const final = await engine.observe(twin.type, id)
    expect(engineHistory(final.history), `${label} [${mode}] twin ${id}: the kept history`).toEqual(expectedHistory(refs.get(id)!.steps, HISTORY_LENGTH))
  }
}

/** The first event live, the rest ingested while no worker runs, then applied by one worker as a backlog. */
async function backlog(twin: TwinDefinition, id: string, steps: readonly ScriptStep[], engine: EngineHarness, ref: ReferenceRun, label: string): Promise<void> {
  const [first, ...rest] = steps
  if (!first || !('send' in first)) throw new Error(`${label}: a script starts with an event`)
  await engine.send(twin.type, id, first.send, first.payload)
  const head = await engine.observe(twin.type, id)
  expectSame(`${label} [backlog] step 1 (${describeStep(first)})`, head, ref.observations[0]!, ref.contexts[0])
  await engine.stopWorker()
  for (const step of rest) {
    if ('send' in step) await engine.send(twin.type, id, step.send, step.payload)
    else await engine.advance(step.advance)
  }
  await engine.startWorker()
  await engine.settled()
  const end = await engine.observe(twin.type, id)
  const last = ref.observations.at(-1)!
  const later = ref.observations.slice(1)
  const expected: Observation = { ...last, emitted: later.flatMap((o) => o.emitted), commands: later.flatMap((o) => o.commands), refused: later.flatMap((o) => o.refused) }
  expectSame(`${label} [backlog] after ${rest.length} steps applied as one backlog`, end, expected, ref.contexts.at(-1))
  expect(engineHistory(end.history), `${label} [backlog]: the kept history`).toEqual(expectedHistory(ref.steps, HISTORY_LENGTH))
}
