/**
 * The engine's intentional differences from plain XState (docs/twins.md,
 * "Fidelity to XState"), each shown on both sides: the engine's own step
 * (the test kit, createTwinHarness) against XState (reference.ts). Where the
 * docs say the engine differs on purpose, this test says how; if one of
 * these starts to agree, the docs are out of date.
 */
import { assign, emit, raise, sendTo, setup } from 'xstate'
import { describe, expect, it } from 'vitest'
import { defineTwin } from '../../src/definitions/defineTwin.ts'
import { TwinRegistry } from '../../src/definitions/registry.ts'
import { createTwinHarness, VirtualClock } from '../../src/public/testing.ts'
import { EngineHarness } from './engine.ts'
import { ReferenceTwin } from './reference.ts'

const START = Date.UTC(2026, 0, 1)
const plain = (...names: string[]) => Object.fromEntries(names.map((e) => [e, {}]))

describe('intentional differences from XState', () => {
  it('custom action functions are not executed: the step is pure and may be replayed', () => {
    let calls = 0
    const twin = defineTwin({
      type: 'custom',
      version: 1,
      events: plain('go'),
      machine: setup({}).createMachine({ on: { go: { actions: [() => void calls++, emit({ type: 'went' })] } } }),
    })
    const h = createTwinHarness(twin, { clock: new VirtualClock(START) })
    h.send('go')
    expect(calls).toBe(0)
    expect(h.emitted.map((e) => e.type)).toEqual(['went'])
    new ReferenceTwin(twin, 'test-1', START).send('go')
    expect(calls).toBe(1)
  })

  it('a throwing action refuses the event (dead-lettered, twin unchanged) instead of putting the actor in error', () => {
    const twin = defineTwin({
      type: 'thrower',
      version: 1,
      events: plain('boom', 'ok'),
      machine: setup({ types: {} as { context: { oks: number } } }).createMachine({
        context: { oks: 0 },
        on: {
          boom: { actions: assign(() => { throw new Error('bad reading') }) },
          ok: { actions: assign({ oks: ({ context }) => context.oks + 1 }) },
        },
      }),
    })
    const h = createTwinHarness(twin, { clock: new VirtualClock(START) })
    expect(() => h.send('boom')).toThrow(expect.objectContaining({ code: 'TWIN_ERR_MACHINE_FAILED' }))
    h.send('ok')
    expect(h.context).toEqual({ oks: 1 })
    const ref = new ReferenceTwin(twin, 'test-1', START)
    ref.actor.subscribe({ error: () => {} })
    ref.send('boom')
    expect(ref.snapshot.status).toBe('error')
  })

  it('re-arming a delayed event under the same id replaces it; XState keeps the first timeout running too', () => {
    const twin = defineTwin({
      type: 'rearm',
      version: 1,
      events: plain('arm'),
      machine: setup({ types: {} as { context: { rings: number } } }).createMachine({
        context: { rings: 0 },
        on: { arm: { actions: raise({ type: 'ring' }, { delay: 1000, id: 'bell' }) }, ring: { actions: assign({ rings: ({ context }) => context.rings + 1 }) } },
      }),
    })
    const h = createTwinHarness(twin, { clock: new VirtualClock(START) })
    const ref = new ReferenceTwin(twin, 'test-1', START)
    h.send('arm')
    ref.send('arm')
    h.advance(500)
    ref.advance(500)
    h.send('arm')
    ref.send('arm')
    h.advance(2000)
    ref.advance(2000)
    expect(h.context.rings).toBe(1)
    expect(ref.snapshot.context.rings).toBe(2)
  })

  it('self-sent and delayed events carry `at`, the engine time they are applied at; XState\'s do not', () => {
    const twin = defineTwin({
      type: 'stamped',
      version: 1,
      events: plain('go'),
      machine: setup({ types: {} as { context: { seen: Array<number | null> } } }).createMachine({
        context: { seen: [] },
        on: {
          go: { actions: [sendTo(({ self }) => self, { type: 'now' }), sendTo(({ self }) => self, { type: 'later' }, { delay: 100 })] },
          now: { actions: assign({ seen: ({ context, event }) => [...context.seen, (event as { at?: number }).at ?? null] }) },
          later: { actions: assign({ seen: ({ context, event }) => [...context.seen, (event as { at?: number }).at ?? null] }) },
        },
      }),
    })
    const h = createTwinHarness(twin, { clock: new VirtualClock(START) })
    h.send('go')
    h.advance(100)
    expect(h.context.seen).toEqual([START, START + 100])
    // Plain XState: no `at` on either (the reference stamps delayed events only, to compare machines that read it).
    const clockless = createActorSeen(twin)
    expect(clockless).toEqual([null])
  })

  it('a first event the twin refuses creates no twin (a dead letter, nothing stored); XState\'s actor exists in its initial state', async () => {
    const twin = defineTwin({
      type: 'picky',
      version: 1,
      events: plain('yes', 'no'),
      machine: setup({}).createMachine({ initial: 'idle', states: { idle: { on: { yes: 'busy' } }, busy: {} } }),
    })
    const engine = await EngineHarness.start({ registry: new TwinRegistry([twin]), start: START })
    try {
      await engine.send('picky', 'p1', 'no')
      const seen = await engine.observe('picky', 'p1')
      expect(seen.refused).toEqual([['no', 'TWIN_ERR_EVENT_NOT_ACCEPTED']])
      expect(await engine.store.getRecord('picky', 'p1')).toBeNull()
    } finally {
      await engine.close()
    }
    const ref = new ReferenceTwin(twin, 'p1', START)
    ref.send('no')
    expect(ref.observe().refused).toEqual([['no', 'TWIN_ERR_EVENT_NOT_ACCEPTED']])
    expect(ref.snapshot.value).toBe('idle')
  })
})

/** What a plain XState actor (no engine stamping at all) records of `at` for the self-sent event. */
function createActorSeen(twin: ReturnType<typeof defineTwin>): Array<number | null> {
  const ref = new ReferenceTwin(twin, 'test-1', START)
  ref.actor.send({ type: 'go' })
  return (ref.snapshot.context as { seen: Array<number | null> }).seen
}
