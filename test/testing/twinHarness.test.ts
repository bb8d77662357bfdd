import { describe, expect, it } from 'vitest'
import { assign, emit, setup } from 'xstate'
import { defineTwin } from '../../src/definitions/defineTwin.ts'
import { createTwinHarness } from '../../src/testing/twinHarness.ts'
import charger from '../../twins/charger.ts'

const lamp = defineTwin({
  type: 'lamp',
  version: 1,
  events: { on: {}, off: {}, level: { properties: { pct: { type: 'number', minimum: 0, maximum: 100 } }, required: ['pct'] } },
  machine: setup({
    types: {} as { context: { pct: number; id: string }; input: { id: string }; events: { type: 'on' } | { type: 'off' } | { type: 'level'; pct: number } },
  }).createMachine({
    id: 'lamp',
    context: ({ input }) => ({ pct: 0, id: input.id }),
    initial: 'off',
    states: {
      off: { on: { on: 'on' } },
      on: {
        after: { 5000: { target: 'off', actions: emit({ type: 'autoOff' }) } },
        on: { off: 'off', level: { actions: assign({ pct: ({ event }) => event.pct }) } },
      },
    },
  }),
})

describe('TwinHarness', () => {
  it('passes the twin id as input and counts revisions', () => {
    const t = createTwinHarness(lamp, { id: 'l-7' })
    expect(t.context.id).toBe('l-7')
    expect(t.rev).toBe(0)
    t.send('on')
    expect(t.state).toBe('on')
    expect(t.rev).toBe(1)
  })

  it('fires `after` as a durable timer on virtual time and emits', () => {
    const t = createTwinHarness(lamp)
    const start = t.clock.now()
    t.send('on')
    expect(t.timers).toEqual([{ id: 'xstate.after.5000.lamp.on', due: start + 5000 }])
    t.advance(4999)
    expect(t.state).toBe('on')
    t.advance(1)
    expect(t.state).toBe('off')
    expect(t.emitted).toEqual([{ type: 'autoOff', at: start + 5000 }])
    expect(t.timers).toEqual([])
  })

  it('cancels the timer when the state is left early', () => {
    const t = createTwinHarness(lamp)
    t.send('on')
    t.send('off')
    expect(t.timers).toEqual([])
    t.advance(10_000)
    expect(t.emitted).toEqual([])
  })

  it('rejects what the engine would dead-letter', () => {
    const t = createTwinHarness(lamp)
    expect(() => t.send('level', { pct: 500 })).toThrow(expect.objectContaining({ code: 'TWIN_ERR_PAYLOAD_SCHEMA' }))
    expect(() => t.send('blink')).toThrow(expect.objectContaining({ code: 'TWIN_ERR_UNKNOWN_EVENT' }))
    expect(() => t.send('off')).toThrow(expect.objectContaining({ code: 'TWIN_ERR_EVENT_NOT_ACCEPTED' }))
    expect(t.rev).toBe(0)
  })
})

describe('TwinHarness: the engine steps every twin has', () => {
  it('sets attributes, records a command, takes the ack and times out an unanswered one', () => {
    const t = createTwinHarness(charger, { id: 'c1' })
    t.send('attributes', { site: 's1' })
    expect(t.attributes).toEqual({ site: 's1' })
    const rev = t.rev
    t.send('attributes', { site: 's1' }) // no change: no step
    expect(t.rev).toBe(rev)

    t.command('setMaxPower', { maxPowerW: 7400 }, { id: 'k1', timeoutMs: 10_000 })
    expect(t.published).toEqual([{ name: 'setMaxPower', message: { id: 'k1', payload: { maxPowerW: 7400 }, sentAt: t.clock.now() } }])
    expect(t.commandStates.setMaxPower).toMatchObject({ id: 'k1', status: 'pending' })
    t.send('ack', { id: 'k1', reported: { maxPowerW: 7400 } })
    expect(t.commandStates.setMaxPower).toMatchObject({ status: 'acked', reported: { maxPowerW: 7400 } })
    expect(t.emitted.at(-1)).toMatchObject({ type: 'commandAcked', command: 'setMaxPower', commandId: 'k1' })
    expect(() => t.send('ack', { id: 'nope' })).toThrow(/no such command/)
    // A repeated ack (QoS 1 redelivery) changes nothing and emits nothing again.
    const acks = t.emitted.length
    t.send('ack', { id: 'k1', ok: false, reason: 'late duplicate' })
    expect(t.commandStates.setMaxPower).toMatchObject({ status: 'acked' })
    expect(t.emitted).toHaveLength(acks)

    t.command('reset', {}, { id: 'k2', timeoutMs: 5000 })
    t.advance(5000)
    expect(t.commandStates.reset).toMatchObject({ status: 'timedOut' })
    expect(t.emitted.at(-1)).toMatchObject({ type: 'commandTimedOut', command: 'reset', commandId: 'k2' })
  })
})

describe('TwinHarness: the device shadow is bounded', () => {
  it('keeps 32 command names; the oldest answered one makes room, 32 pending ones refuse a 33rd', () => {
    const t = createTwinHarness(charger, { id: 'c2' })
    for (let i = 0; i < 32; i++) t.command(`c${i}`, {}, { id: `k${i}` })
    const refused = t.command('c32', {}, { id: 'k32' })
    expect(refused.error?.code).toBe('TWIN_ERR_COMMAND_INVALID')
    expect(Object.keys(t.commandStates)).toHaveLength(32)
    t.send('ack', { id: 'k5' })
    t.command('c32', {}, { id: 'k32' })
    expect(Object.keys(t.commandStates)).toHaveLength(32)
    expect(t.commandStates.c5).toBeUndefined()
    expect(t.commandStates.c32).toMatchObject({ status: 'pending' })
  })
})
