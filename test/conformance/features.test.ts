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
 */
import { afterEach, beforeAll, describe, it } from 'vitest'
import { TwinRegistry } from '../../src/definitions/registry.ts'
import { EngineHarness } from './engine.ts'
import { FEATURES } from './features.ts'
import { conformance, MODES } from './run.ts'

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
