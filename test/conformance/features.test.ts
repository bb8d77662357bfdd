/**
 * The differential conformance suite (docs/twins.md, "Fidelity to XState"):
 * every statechart feature as a small twin (features.ts) with a script of
 * device events and virtual-time advances, run through plain XState 5 and
 * through the engine (a real worker on a real redis-server) in four modes:
 * live, every twin reloaded from Redis before each event, a worker restart
 * after every event, and the events applied as one backlog after an outage.
 * After every step: state value, context (as apps see it, and as stored),
 * tags, pending timers (ids, due times, firing order, and the shard's timer
 * set), derived events, refusals and done; at the end, the kept history.
 * Then random scripts over the same twins (fast-check), in a random mode.
 * Set FC_SEED (and FC_PATH) to replay a failure fast-check reports.
 */
import fc from 'fast-check'
import { afterEach, beforeAll, describe, it } from 'vitest'
import { TwinRegistry } from '../../src/definitions/registry.ts'
import { advance, deviceEvent, script } from './arbitraries.ts'
import { EngineHarness } from './engine.ts'
import { FEATURES } from './features.ts'
import { conformance, MODES, referenceRun } from './run.ts'

const START = Date.UTC(2026, 0, 1)
let registry: TwinRegistry
let engine: EngineHarness | undefined

beforeAll(() => {
  registry = new TwinRegistry(FEATURES.map((f) => f.twin))
})

afterEach(async () => {
  await engine?.close()
  engine = undefined
})

describe.each(MODES)('%s', (mode) => {
  it.each(FEATURES.map((f) => [f.name, f] as const))('%s', async (_name, feature) => {
    engine = await EngineHarness.start({ registry, start: START, cacheSize: mode === 'reload' ? 1 : 1000 })
    await conformance(feature.twin, feature.steps, mode, engine)
  })
})

/** Random scripts over the same twins: events they declare, in any order, and time passing around their delays. */
describe('random scripts', () => {
  const RUNS = 40
  it('through a worker on Redis in a random mode', async () => {
    const arbitrary = fc.constantFrom(...FEATURES).chain((f) =>
      fc.tuple(fc.constant(f), script(f.steps[0]!, fc.oneof({ weight: 3, arbitrary: deviceEvent(f.twin) }, advance([100, 300, 500, 1000, 2000])), 12), fc.constantFrom(...MODES)),
    )
    await fc.assert(
      fc.asyncProperty(arbitrary, async ([feature, steps, mode]) => {
        // Re-arming a pending timer under its id is where the engine differs on purpose.
        fc.pre(!referenceRun(feature.twin, 'a', START, steps).rearmedPending)
        engine = await EngineHarness.start({ registry, start: START, cacheSize: mode === 'reload' ? 1 : 1000 })
        try {
          await conformance(feature.twin, steps, mode, engine)
        } finally {
          await engine.close()
          engine = undefined
        }
      }),
      { numRuns: RUNS, ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH } : {}) },
    )
  }, 120_000)
})
