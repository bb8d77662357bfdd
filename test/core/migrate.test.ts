import { assign, setup } from 'xstate'
import { describe, expect, it } from 'vitest'
import { Drivers } from '../../src/core/drivers.ts'
import { applyShardBatch } from '../../src/core/shardBatch.ts'
import type { LoadedRecord } from '../../src/core/workingSet.ts'
import { defineTwin, type Migration } from '../../src/definitions/defineTwin.ts'
import { TwinRegistry } from '../../src/definitions/registry.ts'
import type { InboxEntry } from '../../src/model/entries.ts'
import type { LiveTwin, TwinRecord } from '../../src/model/record.ts'

/** Lazy migration in the pure batch: a stored twin of an older version is migrated when loaded, or refused with its record kept. */

const T0 = 1_700_000_000_000

const v1 = defineTwin({
  type: 'pump',
  version: 1,
  events: { start: {}, stop: {} },
  machine: setup({ types: {} as { context: { runs: number } } }).createMachine({
    id: 'pump',
    context: { runs: 0 },
    initial: 'stopped',
    states: {
      stopped: { on: { start: { target: 'running', actions: assign({ runs: ({ context }) => context.runs + 1 }) } } },
      running: { after: { 60_000: 'stopped' }, on: { stop: 'stopped' } },
    },
  }),
})

/** Version 2 renames `running` to `pumping` and adds `hours`. */
function v2(migration: Migration) {
  return defineTwin({
    type: 'pump',
    version: 2,
    events: { start: {}, stop: {} },
    migrations: { 1: migration },
    contextSchema: { properties: { runs: { type: 'integer' }, hours: { type: 'number' } }, required: ['runs', 'hours'] },
    machine: setup({ types: {} as { context: { runs: number; hours: number } } }).createMachine({
      id: 'pump',
      context: { runs: 0, hours: 0 },
      initial: 'stopped',
      states: {
        stopped: { on: { start: { target: 'pumping', actions: assign({ runs: ({ context }) => context.runs + 1 }) } } },
        pumping: { after: { 60_000: 'stopped' }, on: { stop: 'stopped' } },
      },
    }),
  })
}

const rename: Migration = (s) => ({
  ...s,
  value: s.value === 'running' ? 'pumping' : s.value,
  context: { ...s.context, hours: 0 },
  timers: Object.fromEntries(Object.entries(s.timers).map(([id, t]) => [id.replace('pump.running', 'pump.pumping'), { due: t.due, event: { type: t.event.type.replace('pump.running', 'pump.pumping') } }])),
})

/** A twin stored by version 1, running, with its `after` timer pending. */
function storedV1(): TwinRecord {
  const drivers = new Drivers(new TwinRegistry([v1]))
  const r = applyShardBatch({
    registry: drivers.registry, drivers, cache: new Map(), entries: [entry('start')], timers: [], loaded: new Map(), historyLength: 10, horizon: T0,
  })
  return r.writes.records[0]![1]
}

let seq = 0
function entry(event: string, at = T0): InboxEntry {
  return { id: `${at}-${seq++}`, type: 'pump', twinId: 'p1', event, payload: '{}' }
}

function runV2(migration: Migration, stored: TwinRecord, event = 'stop') {
  const drivers = new Drivers(new TwinRegistry([v2(migration)]))
  return applyShardBatch({
    registry: drivers.registry, drivers, cache: new Map<string, LiveTwin>(), entries: [entry(event, T0 + 1000)], timers: [],
    loaded: new Map<string, LoadedRecord>([['pump/p1', stored]]), historyLength: 10, horizon: T0 + 1000,
  })
}

describe('lazy migration', () => {
  it('migrates a twin stored by version 1 when it is loaded, announces it, then applies the event', () => {
    const stored = storedV1()
    expect(stored).toMatchObject({ v: 'running', d: 1, r: 1 })
    const r = runV2(rename, stored, 'start')
    // The migration is a change of its own (rev 2), then "start" is not accepted in pumping: dead-lettered, the migration kept.
    expect(r.views.map((v) => [v.rev, v.value])).toEqual([[2, 'pumping']])
    const [, record] = r.writes.records[0]!
    expect(record).toMatchObject({ v: 'pumping', d: 2, r: 2, c: { runs: 1, hours: 0 } })
    expect(record.h!.at(-1)).toMatchObject({ e: '$migrate:1->2', f: 'running', t: 'pumping' })
    expect(Object.keys(record.t)).toEqual(['xstate.after.60000.pump.pumping'])
    expect(r.writes.timersRemoved).toEqual(['pump/p1|xstate.after.60000.pump.running'])
    expect(r.writes.timersAdded).toEqual([{ member: 'pump/p1|xstate.after.60000.pump.pumping', due: T0 + 60_000 }])
    expect(r.writes.counts).toEqual(expect.arrayContaining([
      { type: 'pump', kind: 'version', name: '1', delta: -1 },
      { type: 'pump', kind: 'version', name: '2', delta: 1 },
      { type: 'pump', kind: 'state', name: 'running', delta: -1 },
      { type: 'pump', kind: 'state', name: 'pumping', delta: 1 },
    ]))
    expect(r.writes.deadLetters.map((d) => d.code)).toEqual(['TWIN_ERR_EVENT_NOT_ACCEPTED'])
    // The migrated twin takes the next event as version 2.
    const next = runV2(rename, record, 'stop')
    expect(next.views.map((v) => v.value)).toEqual(['stopped'])
  })

  it.each([
    ['throws', (() => { throw new Error('no hours for you') }) as Migration, /step 1 -> 2 threw: no hours for you/],
    ['loops', ((s) => { for (;;) if (s.version === -1) break; return s }) as Migration, /ran over 1000 ms/],
    ['returns a state the machine lacks', ((s) => ({ ...s, context: { ...s.context, hours: 0 } })) as Migration, /state the machine does not have \("running"/],
    ['returns a context the schema refuses', ((s) => ({ ...s, value: 'pumping', context: { runs: 'many', hours: 0 } })) as Migration, /contextSchema refuses: context\/runs must be integer/],
    ['returns nothing', (() => undefined) as unknown as Migration, /returned no snapshot/],
  ])('a migration that %s is refused with the twin, the versions and why; the stored record stays untouched', (_what, migration, why) => {
    const stored = storedV1()
    const copy = structuredClone(stored)
    const r = runV2(migration, stored)
    expect(r.writes.records).toEqual([])
    expect(r.writes.deadLetters).toEqual([expect.objectContaining({ code: 'TWIN_ERR_MIGRATION_FAILED', twin: 'pump/p1', event: 'stop' })])
    expect(r.writes.deadLetters[0]!.reason).toMatch(/twin pump\/p1 cannot be migrated from version 1 to 2 of "pump"/)
    expect(r.writes.deadLetters[0]!.reason).toMatch(why)
    expect(stored).toEqual(copy)
  })

  it('holds the input of a twin stored by a newer version than this worker has: neither stepped nor overwritten nor dead-lettered', () => {
    const stored = { ...storedV1(), d: 3 }
    const r = runV2(rename, stored)
    expect(r.writes.records).toEqual([])
    expect(r.writes.deadLetters).toEqual([])
    expect(r.writes.held.map((e) => [e.twinId, e.event])).toEqual([['p1', 'stop']])
    expect(r.writes.heldKeys).toEqual([{ key: 'pump/p1', version: 3 }])
  })

  it('a held twin\'s later input is held behind it; a worker with its version takes it back and applies its held input in order', () => {
    const drivers = new Drivers(new TwinRegistry([v1]))
    const held = new Map([['pump/p1', 1]])
    const later = applyShardBatch({
      registry: drivers.registry, drivers, cache: new Map(), entries: [entry('start', T0 + 10)], timers: [{ member: 'pump/p1|xstate.after.60000.pump.running', due: T0 + 5 }],
      loaded: new Map(), historyLength: 10, horizon: T0 + 10, held,
    })
    expect(later.writes.held.map((e) => e.event)).toEqual(['start'])
    expect(later.writes.timersRemoved).toEqual(['pump/p1|xstate.after.60000.pump.running'])
    expect(later.writes.records).toEqual([])
    // Taken back: the held input is the batch, marked with its held-stream ids; the twin's timers are set again.
    const stored = storedV1()
    const heldEntries = [{ ...entry('stop', T0 + 20), heldId: '5-0' }, { ...entry('start', T0 + 30), heldId: '5-1' }]
    const back = applyShardBatch({
      registry: drivers.registry, drivers, cache: new Map(), entries: heldEntries, timers: [], loaded: new Map<string, LoadedRecord>([['pump/p1', stored]]),
      historyLength: 10, horizon: T0 + 30, held, unhold: { keys: ['pump/p1'], done: true },
    })
    expect(back.views.map((v) => v.value)).toEqual(['stopped', 'running'])
    expect(back.writes.heldApplied).toEqual(['5-0', '5-1'])
    expect(back.writes.unheld).toEqual(['pump/p1'])
    expect(back.writes.checkpoint).toBe('')
    expect(back.writes.timersAdded.map((t) => t.member)).toEqual(['pump/p1|xstate.after.60000.pump.running'])
  })
})
