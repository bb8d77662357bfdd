import { describe, expect, it } from 'vitest'
import { assign, emit, enqueueActions, raise, setup } from 'xstate'
import { VirtualClock } from '../../src/clock.ts'
import { COMMAND_EVENT, sendCommand } from '../../src/definitions/commands.ts'
import { defineRule, type RuleFeedEvent } from '../../src/definitions/defineRule.ts'
import { defineTwin } from '../../src/definitions/defineTwin.ts'
import { createRuleHarness } from '../../src/testing/ruleHarness.ts'
import { createTwinHarness } from '../../src/testing/twinHarness.ts'

/** A small rule: logs what it is fed, arms a 10 s timer on 'lamp.broken', commands a lamp to reset. */
const watch = defineRule({
  name: 'lamp-watch',
  version: 1,
  inputs: [
    { twin: 'lamp', changes: 'state', events: ['broken', 'fixed'], groupBy: 'room' },
    { twin: 'sensor', changes: 'all', groupBy: (t) => (t.attributes.kind === 'light' ? t.attributes.room : undefined) },
  ],
  machine: setup({
    types: {} as { context: { room: string; log: string[] }; events: RuleFeedEvent | { type: 'check'; at: number }; input: { type: string; id: string } },
  }).createMachine({
    id: 'lamp-watch',
    context: ({ input }) => ({ room: input.id, log: [] }),
    initial: 'watching',
    on: {
      'lamp.changed': { actions: assign(({ context, event }) => ({ log: [...context.log, `${(event as RuleFeedEvent).twinId}:${String((event as RuleFeedEvent).value)}`] })) },
      'sensor.changed': { actions: assign(({ context, event }) => ({ log: [...context.log, `sensor ${(event as RuleFeedEvent).twinId}:${JSON.stringify((event as RuleFeedEvent).context)}`] })) },
    },
    states: {
      watching: {
        on: {
          'lamp.broken': {
            target: 'waiting',
            actions: enqueueActions(({ context, event, enqueue }) => {
              const e = event as RuleFeedEvent
              enqueue.assign({ log: [...context.log, `broken ${e.twinId} ${JSON.stringify(e.data)}`] })
              enqueue.raise({ type: 'check' } as { type: 'check'; at: number }, { id: 'check', delay: 10_000 }) // the engine stamps `at` when it fires
            }),
          },
        },
      },
      waiting: {
        on: {
          check: {
            target: 'watching',
            actions: [
              emit(({ context }) => ({ type: 'lampStillBroken', room: context.room })),
              sendCommand(({ context }) => ({ to: { type: 'lamp', id: `${context.room}-main` }, name: 'reset', payload: { hard: true } })),
              sendCommand(() => undefined), // sends nothing
            ],
          },
          'lamp.fixed': { target: 'watching' },
        },
      },
    },
  }),
})

describe('RuleHarness', () => {
  it('creates the rule actor of one group with input { type, id }', () => {
    const h = createRuleHarness(watch, { group: 'r1' })
    expect(h.context).toEqual({ room: 'r1', log: [] })
    expect(h.state).toBe('watching')
    expect(h.rev).toBe(0)
    expect(() => createRuleHarness(watch, { group: 'no spaces' })).toThrow(expect.objectContaining({ code: 'TWIN_ERR_INVALID_ID' }))
  })

  it("with changes 'state': delivers a join and each new state value, not repeats", () => {
    const h = createRuleHarness(watch, { group: 'r1' })
    expect(h.feedChange('lamp', 'l1', { value: 'off', attributes: { room: 'r1' } })).not.toBeNull()
    expect(h.feedChange('lamp', 'l1', { value: 'off' })).toBeNull()
    expect(h.feedChange('lamp', 'l1', { value: 'on', context: { pct: 3 } })).not.toBeNull()
    expect(h.context.log).toEqual(['l1:off', 'l1:on'])
    expect(h.rev).toBe(2)
  })

  it('a twin of another group is not delivered; one that leaves gets one last feed; one that arrives joins', () => {
    const h = createRuleHarness(watch, { group: 'r1' })
    expect(h.feedChange('lamp', 'l2', { value: 'on', attributes: { room: 'r2' } })).toBeNull()
    h.feedChange('lamp', 'l1', { value: 'on', attributes: { room: 'r1' } })
    expect(h.feedChange('lamp', 'l1', { value: 'on', attributes: { room: 'r2' } })).not.toBeNull() // leaving
    expect(h.feedChange('lamp', 'l1', { value: 'off' })).toBeNull() // gone
    expect(h.feedChange('lamp', 'l2', { value: 'on', attributes: { room: 'r1' } })).not.toBeNull() // same value, but joins
    expect(h.context.log).toEqual(['l1:on', 'l1:on', 'l2:on'])
  })

  it("with changes 'all' and a groupBy function: every change of a matching twin", () => {
    const h = createRuleHarness(watch, { group: 'r1' })
    const light = { room: 'r1', kind: 'light' }
    h.feedChange('sensor', 's1', { value: 'ok', context: { lux: 1 }, attributes: light })
    h.feedChange('sensor', 's1', { value: 'ok', context: { lux: 2 } })
    expect(h.feedChange('sensor', 's2', { value: 'ok', context: { lux: 9 }, attributes: { room: 'r1', kind: 'co2' } })).toBeNull()
    expect(h.context.log).toEqual(['sensor s1:{"lux":1}', 'sensor s1:{"lux":2}'])
    // A function of the twin cannot be guessed: attributes are required for a twin never fed.
    expect(() => h.feedChange('sensor', 's3', { value: 'ok' })).toThrow(expect.objectContaining({ code: 'TWIN_ERR_BAD_REQUEST' }))
  })

  it('delivers listed derived events with their data and the source twin; fires timers on advance; records emitted and commands with their time', () => {
    const clock = new VirtualClock(1_000_000)
    const h = createRuleHarness(watch, { group: 'r1', clock })
    const result = h.feedEvent('lamp', 'l1', 'broken', { code: 'E7' }, { value: 'on', context: { pct: 50 } })
    expect(result?.accepted).toBe(true)
    expect(h.context.log).toEqual(['broken l1 {"code":"E7"}'])
    expect(h.timers).toEqual([{ id: 'check', due: 1_010_000 }])
    h.advance(9_999)
    expect(h.emitted).toEqual([])
    h.advance(1)
    expect(h.state).toBe('watching')
    expect(h.emitted).toEqual([{ type: 'lampStillBroken', room: 'r1', at: 1_010_000 }])
    expect(h.commands).toEqual([{ type: COMMAND_EVENT, to: { type: 'lamp', id: 'r1-main' }, name: 'reset', payload: { hard: true }, at: 1_010_000 }])
    expect(h.emittedTypes).toEqual(['lampStillBroken'])
  })

  it('a feed the rule does not take in its state is not an error and changes nothing', () => {
    const h = createRuleHarness(watch, { group: 'r1' })
    const result = h.feedEvent('lamp', 'l1', 'fixed', {}, { value: 'on' }) // only taken while waiting
    expect(result?.accepted).toBe(false)
    expect(h.rev).toBe(0)
    expect(h.feedEvent('lamp', 'l1', 'broken')?.accepted).toBe(true) // the source twin is remembered
    expect(h.feedEvent('lamp', 'l1', 'fixed')?.accepted).toBe(true)
    // Leaving `waiting` does not cancel a delayed raise (only `after` is cancelled on exit):
    // the timer fires, the machine ignores it, and it is consumed.
    expect(h.timers.map((t) => t.id)).toEqual(['check'])
    h.advance(10_000)
    expect(h.timers).toEqual([])
    expect(h.emitted).toEqual([])
  })

  it('refuses what the engine would never route', () => {
    const h = createRuleHarness(watch, { group: 'r1' })
    expect(() => h.feedChange('door', 'd1', { value: 'open' })).toThrow(expect.objectContaining({ code: 'TWIN_ERR_UNKNOWN_TYPE' }))
    expect(() => h.feedEvent('lamp', 'l1', 'flicker', {}, { value: 'on' })).toThrow(expect.objectContaining({ code: 'TWIN_ERR_UNKNOWN_EVENT' }))
    expect(() => h.feedChange('lamp', 'l9', { value: undefined as never })).toThrow(expect.objectContaining({ code: 'TWIN_ERR_BAD_REQUEST' }))
  })

  it('feed() delivers as is: unaccepted feeds leave the actor unchanged, a throwing machine throws', () => {
    const h = createRuleHarness(watch, { group: 'r1' })
    const fixed = h.feed({ type: 'lamp.repaired', twinId: 'l1', value: 'on', context: {}, attributes: { room: 'r1' } })
    expect(fixed.accepted).toBe(false)
    expect(fixed.error?.code).toBe('TWIN_ERR_EVENT_NOT_ACCEPTED')
    expect(h.rev).toBe(0)

    const boom = defineRule({
      name: 'boom',
      version: 1,
      inputs: [{ twin: 'lamp', changes: 'all', groupBy: 'room' }],
      machine: setup({}).createMachine({
        on: { 'lamp.changed': { actions: assign(() => { throw new RangeError('bad rule') }) } },
      }),
    })
    const b = createRuleHarness(boom, { group: 'r1' })
    expect(() => b.feedChange('lamp', 'l1', { value: 'on' })).toThrow(expect.objectContaining({ code: 'TWIN_ERR_MACHINE_FAILED' }))
  })

  it('connect(): a real twin feeds the rule, and timers of both fire in time order', () => {
    const lamp = defineTwin({
      type: 'lamp',
      version: 1,
      events: { on: {} },
      machine: setup({}).createMachine({
        initial: 'off',
        states: { off: { on: { on: 'on' } }, on: { after: { 5_000: { actions: emit({ type: 'broken', code: 'E1' } as { type: string }) } } } },
      }),
    })
    const h = createRuleHarness(watch, { group: 'r1' })
    expect(() => h.connect('lamp', 'l1', createTwinHarness(lamp, { id: 'l1' }))).toThrow(expect.objectContaining({ code: 'TWIN_ERR_BAD_REQUEST' }))
    const l1 = h.connect('lamp', 'l1', createTwinHarness(lamp, { id: 'l1', clock: h.clock }), { room: 'r1' })
    const start = h.clock.now()
    expect(h.context.log).toEqual(['l1:off']) // joined
    l1.send('on')
    h.advance(20_000) // the twin's 5 s timer emits 'broken', which arms the rule's 10 s check
    expect(h.context.log).toEqual(['l1:off', 'l1:on', 'broken l1 {"code":"E1"}'])
    expect(h.emitted).toEqual([{ type: 'lampStillBroken', room: 'r1', at: start + 15_000 }])
    expect(h.clock.now()).toBe(start + 20_000)
    l1.setAttributes({ room: 'r2' }) // leaves: one last feed
    expect(h.context.log.at(-1)).toBe('l1:on')
  })

  it('timers due at once fire in the order they were armed, also one re-armed under its id', () => {
    const order = defineRule({
      name: 'order',
      version: 1,
      inputs: [{ twin: 'lamp', changes: 'all', groupBy: 'room' }],
      machine: setup({ types: {} as { context: { fired: string[] }; events: { type: string; name?: string } } }).createMachine({
        context: { fired: [] },
        on: {
          first: { actions: [raise({ type: 'fired', name: 'x' }, { id: 'x', delay: 500 }), raise({ type: 'fired', name: 'y' }, { id: 'y', delay: 300 })] },
          // Re-armed (replaced) to fall due with y, armed after it.
          second: { actions: raise({ type: 'fired', name: 'x' }, { id: 'x', delay: 100 }) },
          fired: { actions: assign(({ context, event }) => ({ fired: [...context.fired, event.name!] })) },
        },
      }),
    })
    const h = createRuleHarness(order, { group: 'r1' })
    const feed = { twinId: 'l1', value: 'on', context: {}, attributes: { room: 'r1' } }
    h.feed({ type: 'first', ...feed })
    h.advance(200)
    h.feed({ type: 'second', ...feed })
    h.advance(100)
    expect(h.context.fired).toEqual(['y', 'x'])
  })
})
