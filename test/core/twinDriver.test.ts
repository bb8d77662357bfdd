import { assign, emit, raise, sendParent, sendTo, setup, spawnChild } from 'xstate'
import { describe, expect, it } from 'vitest'
import { TwinDriver } from '../../src/core/twinDriver.ts'
import { defineTwin } from '../../src/definitions/defineTwin.ts'
import type { LiveTwin } from '../../src/model/record.ts'
import { decodeRecord, encodeRecord } from '../../src/store/twinRecords.ts'

/** The pure step against XState's own semantics, with every twin restored from its stored record between steps. */

const T0 = 1_700_000_000_000

/** A twin after a round trip through the stored encoding, as a worker restores it from Redis. */
function reload(driver: TwinDriver, twin: LiveTwin): LiveTwin {
  const record = decodeRecord(encodeRecord(twin.record))
  return { snapshot: driver.restore(record), record }
}

function start(driver: TwinDriver): LiveTwin {
  const r = driver.create('t1', T0)
  return { snapshot: r.snapshot, record: r.record }
}

function step(driver: TwinDriver, twin: LiveTwin, type: string, at = T0, payload: object = {}) {
  const r = driver.step(twin, { type, at, ...payload })
  return { result: r, twin: { snapshot: r.snapshot, record: r.record } }
}

const doors = defineTwin({
  type: 'doors',
  version: 1,
  events: { open: {}, close: {}, alarm: {}, reset: {}, deepReset: {} },
  machine: setup({}).createMachine({
    id: 'doors',
    initial: 'normal',
    states: {
      normal: {
        initial: 'closed',
        states: {
          closed: { on: { open: 'opened' } },
          opened: { on: { close: 'closed' } },
          hist: { type: 'history' },
        },
        on: { alarm: 'alarm' },
      },
      alarm: { on: { reset: 'normal.hist' } },
    },
  }),
})

describe('restore = memory', () => {
  it('a history state remembers its child across a restore (shallow)', () => {
    const driver = new TwinDriver(doors)
    let twin = start(driver)
    twin = step(driver, reload(driver, twin), 'open').twin
    twin = step(driver, reload(driver, twin), 'alarm').twin
    expect(twin.record.hv).toEqual({ 'doors.normal.hist': ['doors.normal.opened'] })
    twin = step(driver, reload(driver, twin), 'reset').twin
    expect(twin.record.v).toEqual({ normal: 'opened' })
  })

  it('context values JSON changes come back as they were', () => {
    const keeper = defineTwin({
      type: 'keeper',
      version: 1,
      events: { keep: {}, use: {} },
      machine: setup({ types: {} as { context: Record<string, unknown> } }).createMachine({
        id: 'keeper',
        context: {},
        on: {
          keep: { actions: assign(() => ({ when: new Date(T0), seen: new Set(['a']), byId: new Map([[1, 'x']]), none: undefined, nan: Number.NaN, inf: -Infinity, zero: -0, holes: [1, , 3], big: 2n ** 70n })) },
          use: { actions: assign(({ context }) => ({ day: (context.when as Date).getUTCDate() })) },
        },
      }),
    })
    const driver = new TwinDriver(keeper)
    let twin = step(driver, start(driver), 'keep').twin
    twin = reload(driver, twin)
    const c = twin.record.c as Record<string, unknown>
    expect(c.when).toEqual(new Date(T0))
    expect(c.seen).toEqual(new Set(['a']))
    expect(c.byId).toEqual(new Map([[1, 'x']]))
    expect('none' in c && c.none === undefined).toBe(true)
    expect(c.nan).toBeNaN()
    expect(c.inf).toBe(-Infinity)
    expect(Object.is(c.zero, -0)).toBe(true)
    expect(1 in (c.holes as number[])).toBe(false)
    expect(c.big).toBe(2n ** 70n)
    // A Date that became a string would throw here.
    expect(step(driver, twin, 'use').twin.record.c).toMatchObject({ day: 14 })
  })
})

describe('XState semantics', () => {
  const pinger = defineTwin({
    type: 'pinger',
    version: 1,
    events: { ping: {}, stay: {}, finish: {}, after: {} },
    machine: setup({ types: {} as { context: { pongs: number } } }).createMachine({
      id: 'pinger',
      context: { pongs: 0 },
      initial: 'idle',
      states: {
        idle: {
          on: {
            ping: { actions: sendTo(({ self }) => self, { type: 'pong' }) },
            pong: { actions: [assign({ pongs: ({ context }) => context.pongs + 1 }), emit({ type: 'ponged' })] },
            stay: { target: 'idle' },
            finish: 'done',
          },
        },
        done: { type: 'final' },
      },
    }),
  })

  it('sendTo(self) without a delay is processed after the step, as XState\'s mailbox does', () => {
    const driver = new TwinDriver(pinger)
    const { result } = step(driver, start(driver), 'ping')
    expect(result.accepted).toBe(true)
    expect(result.record.c).toEqual({ pongs: 1 })
    expect(result.emitted.map((e) => e.type)).toEqual(['ponged'])
  })

  it('a transition that is enabled but changes nothing is accepted, not refused', () => {
    const driver = new TwinDriver(pinger)
    const { result } = step(driver, start(driver), 'stay')
    expect(result.error).toBeUndefined()
    const refused = step(driver, start(driver), 'after').result
    expect(refused.error?.code).toBe('TWIN_ERR_EVENT_NOT_ACCEPTED')
  })

  it('a twin in a top-level final state is done: it refuses further events, also after a restore', () => {
    const driver = new TwinDriver(pinger)
    const done = step(driver, start(driver), 'finish').twin
    expect(done.record.st).toBe('done')
    expect(step(driver, done, 'ping').result.error?.code).toBe('TWIN_ERR_TWIN_DONE')
    expect(step(driver, reload(driver, done), 'ping').result.error?.code).toBe('TWIN_ERR_TWIN_DONE')
  })

  it('what the initial state sends itself is processed at creation, as XState does when the actor starts', () => {
    const greeter = defineTwin({
      type: 'greeter',
      version: 1,
      events: { go: {} },
      machine: setup({ types: {} as { context: { hellos: number } } }).createMachine({
        context: { hellos: 0 },
        entry: sendTo(({ self }) => self, { type: 'hello' }),
        on: { hello: { actions: assign({ hellos: ({ context }) => context.hellos + 1 }) } },
      }),
    })
    expect(new TwinDriver(greeter).create('g1', T0).record.c).toEqual({ hellos: 1 })
  })

  it('a delayed event no transition takes when it falls due is dropped, as XState drops it: spent, not refused', () => {
    const driver = new TwinDriver(pinger)
    const twin = start(driver)
    const pending: LiveTwin = { snapshot: twin.snapshot, record: { ...twin.record, t: { stray: [T0 + 5, { type: 'nobody' }, 1] } } }
    const fired = driver.fire(pending, 'stray', T0 + 5)
    expect(fired?.error).toBeUndefined()
    expect(fired?.record.t).toEqual({})
  })

  it('timers due at once keep their arming order', () => {
    const twice = defineTwin({
      type: 'twice',
      version: 1,
      events: { arm: {} },
      machine: setup({}).createMachine({
        id: 'twice',
        on: { arm: { actions: [raise({ type: 'second' }, { delay: 100, id: 'z' }), raise({ type: 'first' }, { delay: 100, id: 'a' })] } },
      }),
    })
    const driver = new TwinDriver(twice)
    const { twin } = step(driver, start(driver), 'arm')
    const order = Object.entries(twin.record.t).sort((a, b) => a[1][0] - b[1][0] || (a[1][2] ?? 0) - (b[1][2] ?? 0)).map(([, [, e]]) => e.type)
    expect(order).toEqual(['second', 'first'])
  })
})

describe('refused when the definition loads', () => {
  const load = (machine: Parameters<typeof defineTwin>[0]['machine'], events: Record<string, Record<string, unknown>> = { go: {} }) => () => defineTwin({ type: 'bad', version: 1, events, machine })

  it.each([
    ['invoke', setup({ actors: { child: setup({}).createMachine({}) } }).createMachine({ invoke: { src: 'child' } }), /invokes an actor/],
    ['spawnChild', setup({}).createMachine({ on: { go: { actions: spawnChild(setup({}).createMachine({})) } } }), /spawnChild/],
    ['sendParent', setup({}).createMachine({ on: { go: { actions: sendParent({ type: 'x' }) } } }), /sendParent/],
    ['sendTo another actor', setup({}).createMachine({ on: { go: { actions: sendTo('someone', { type: 'x' }) } } }), /talks to no other actor/],
    ['an emitted name MQTT forbids', setup({}).createMachine({ on: { go: { actions: emit({ type: 'alarm#1' }) } } }), /alarm#1/],
    ['a context factory that throws', setup({}).createMachine({ context: () => { throw new Error('no input.site') } }), /no input\.site/],
  ])('%s', (_what, machine, message) => {
    expect(load(machine)).toThrow(message)
  })

  it('a payload schema declaring the reserved `type` or `at`', () => {
    expect(load(setup({}).createMachine({}), { go: { properties: { type: { type: 'string' } } } })).toThrow(/reserved|sets on every event/)
    expect(load(setup({}).createMachine({}), { go: { required: ['at'] } })).toThrow(/"at"/)
  })
})
