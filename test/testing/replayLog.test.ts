import { describe, expect, it } from 'vitest'
import { compareLog, replayLog, type LogEvent } from '../../src/public/testing.ts'
import counter from '../fixtures/twins/counter.ts'
import candidate from '../fixtures/replay/candidate/boiler.ts'
import boiler from '../fixtures/replay/twins/boiler.ts'

/** The test kit's replay: a definition over a hand-written or recorded event log, on virtual time. */

const log: LogEvent[] = [
  { at: 0, twinId: 'b1', event: 'reading', payload: { temp: 85 } },
  { at: 0, twinId: 'b2', event: 'reading', payload: { temp: 75 } },
  { at: 1_000, twinId: 'b3', event: 'reading', payload: { temp: 40 } },
  { at: 10_000, twinId: 'b1', event: 'reading', payload: { temp: 82 } },
  { at: 20_000, twinId: 'b2', event: 'reading', payload: { temp: 71 } },
]

describe('replayLog', () => {
  it('runs each twin of the log from its initial state, timers on virtual time up to `until`', () => {
    const out = replayLog(boiler, log, { until: 60_000 })
    expect(Object.keys(out.twins).sort()).toEqual(['b1', 'b2', 'b3'])
    expect(out.twins.b1!.emitted.map((e) => [e.type, e.at])).toEqual([['overheat', 0], ['sustainedOverheat', 30_000]])
    expect(out.twins.b1!.commands).toEqual([{ to: 'boiler/b1', name: 'shutdown', payload: {}, at: 30_000 }])
    expect(out.twins.b2).toMatchObject({ state: 'normal', context: { temp: 71, alarms: 0 }, emitted: [] })
    expect(out.emitted.map((e) => [e.twinId, e.type])).toEqual([['b1', 'overheat'], ['b1', 'sustainedOverheat']])
  })

  it('without `until`, timers fire up to the last event only', () => {
    expect(replayLog(boiler, log).twins.b1!.emitted.map((e) => e.type)).toEqual(['overheat'])
  })

  it('takes a recorded log (inbox stream ids, payloads as JSON) as well', () => {
    const out = replayLog(boiler, [{ id: '5000-0', twinId: 'r1', event: 'reading', payload: '{"temp":99}' }], { until: 40_000 })
    expect(out.twins.r1!.emitted.map((e) => [e.type, e.at])).toEqual([['overheat', 5_000], ['sustainedOverheat', 35_000]])
  })

  it('refuses an event ingest would refuse, with its code', () => {
    expect(() => replayLog(boiler, [{ at: 0, event: 'reading', payload: { temp: 'hot' } }])).toThrow(expect.objectContaining({ code: 'TWIN_ERR_PAYLOAD_SCHEMA' }))
    expect(() => replayLog(boiler, [{ at: 0, event: 'boil' }])).toThrow(expect.objectContaining({ code: 'TWIN_ERR_UNKNOWN_EVENT' }))
  })

  it('records what the twin refuses, as the engine dead-letters it', () => {
    const out = replayLog(counter, [{ at: 0, twinId: 'c1', event: 'lock' }, { at: 5, twinId: 'c1', event: 'inc', payload: { seq: 1 } }])
    expect(out.twins.c1!.state).toBe('locked')
    expect(out.twins.c1!.refused).toEqual([{ at: 5, event: 'inc', code: 'TWIN_ERR_EVENT_NOT_ACCEPTED', reason: expect.stringContaining('"inc" is not accepted') }])
  })
})

describe('compareLog', () => {
  it('names exactly the twins the lower threshold changes, with the first step that differs', () => {
    const cmp = compareLog(boiler, candidate, log, { until: 60_000 })
    expect(cmp.differences.map((d) => d.twin)).toEqual(['boiler/b2'])
    expect(cmp.same.sort()).toEqual(['b1', 'b3'])
    const d = cmp.differences[0]!
    expect(d.first).toMatchObject({ at: 0, running: { value: 'normal' }, candidate: { value: 'overheated', derived: ['overheat'] } })
    expect(d.derived.added.map((p) => [p.item.name, p.at])).toEqual([['overheat', 0], ['sustainedOverheat', 30_000]])
    expect(d.commands.added.map((p) => p.item.name)).toEqual(['shutdown'])
  })

  it('refuses two definitions of different types', () => {
    expect(() => compareLog(boiler, counter, log)).toThrow(expect.objectContaining({ code: 'TWIN_ERR_REPLAY_DEFINITION' }))
  })
})
