import { beforeAll, describe, expect, it } from 'vitest'
import { Drivers } from '../../src/core/drivers.ts'
import { applyShardBatch, type ShardBatchInput } from '../../src/core/shardBatch.ts'
import type { LoadedRecord } from '../../src/core/workingSet.ts'
import { loadTwinRegistry, type TwinRegistry } from '../../src/definitions/registry.ts'
import type { DueTimer, InboxEntry } from '../../src/model/entries.ts'
import type { LiveTwin, TwinRecord } from '../../src/model/record.ts'
import { FIXTURE_RULES, FIXTURE_TWINS } from '../support/env.ts'

/**
 * The shard batch as a pure function: inbox entries, due timers and loaded
 * records in; records, timer changes, outbox entries, dead letters and change
 * notices out. No Redis, no cache writes.
 */

let registry: TwinRegistry
let drivers: Drivers

beforeAll(async () => {
  registry = await loadTwinRegistry(FIXTURE_TWINS, FIXTURE_RULES)
  drivers = new Drivers(registry)
})

const T0 = 1_700_000_000_000
let seq = 0
function entry(twinId: string, event: string, payload: object, at = T0, extra: Partial<InboxEntry> = {}): InboxEntry {
  return { id: `${at}-${seq++}`, type: 'counter', twinId, event, payload: JSON.stringify(payload), ...extra }
}

/** A batch as the worker runs it; the horizon defaults to its last entry's time (or T0). */
function run(input: Partial<ShardBatchInput> & { entries?: InboxEntry[] }): ReturnType<typeof applyShardBatch> {
  const last = input.entries?.at(-1)
  return applyShardBatch({
    registry, drivers, cache: new Map<string, LiveTwin>(), entries: [], timers: [], loaded: new Map<string, LoadedRecord>(), historyLength: 10,
    horizon: last ? Number(last.id.split('-')[0]) : T0,
    ...input,
  })
}

describe('applyShardBatch (pure)', () => {
  it('applies a new twin\'s events in order: one record, one notice per event, derived events with stable ids, the checkpoint', () => {
    const entries = [entry('c1', 'inc', { seq: 1 }), entry('c1', 'inc', { seq: 2 }, T0 + 1)]
    const r = run({ entries })
    expect(r.writes.checkpoint).toBe(entries[1]!.id)
    expect(r.writes.created).toEqual(['counter/c1'])
    expect(r.writes.records).toHaveLength(1)
    const [key, record] = r.writes.records[0]!
    expect(key).toBe('counter/c1')
    expect(record).toMatchObject({ v: 'counting', r: 2, u: T0 + 1, c: { count: 2, lastSeq: 2 } })
    expect(r.views.map((v) => v.rev)).toEqual([1, 2])
    expect(r.writes.outbox).toEqual([
      { kind: 'derived', event: { id: `counter/c1@${entries[0]!.id}:0`, type: 'counter', twinId: 'c1', name: 'counted', at: T0, data: { seq: 1 } } },
      { kind: 'derived', event: { id: `counter/c1@${entries[1]!.id}:0`, type: 'counter', twinId: 'c1', name: 'counted', at: T0 + 1, data: { seq: 2 } } },
    ])
    expect(r.changed.map((c) => c.key)).toEqual(['counter/c1'])
    expect(r.applied).toBe(2)
  })

  it('dead-letters a refused event and carries on with the next twin; nothing is written for the refused one', () => {
    const lockedRecord: TwinRecord = { v: 'locked', c: { count: 0, lastSeq: 0, gaps: 0, dupes: 0, rings: 0 }, r: 3, u: T0 - 10, t: {}, d: 1 }
    const r = run({
      entries: [entry('locked', 'inc', { seq: 1 }), entry('ok', 'inc', { seq: 1 })],
      loaded: new Map<string, LoadedRecord>([['counter/locked', lockedRecord]]),
    })
    expect(r.writes.deadLetters).toEqual([expect.objectContaining({ code: 'TWIN_ERR_EVENT_NOT_ACCEPTED', twin: 'counter/locked', event: 'inc', src: 'worker' })])
    expect(r.writes.records.map(([k]) => k)).toEqual(['counter/ok'])
    expect(r.deadLetters).toBe(1)
  })

  it('an unreadable stored record dead-letters that twin\'s input only', () => {
    const r = run({
      entries: [entry('bad', 'inc', { seq: 1 }), entry('good', 'inc', { seq: 1 })],
      loaded: new Map<string, LoadedRecord>([['counter/bad', new SyntaxError('Unexpected token')]]),
    })
    expect(r.writes.deadLetters.map((d) => [d.code, d.twin])).toEqual([['TWIN_ERR_DEFINITION', 'counter/bad']])
    expect(r.writes.records.map(([k]) => k)).toEqual(['counter/good'])
  })

  it('arms a durable timer as a timer write, and fires a due timer before a later event of the batch', () => {
    const armed = run({ entries: [entry('t', 'arm', { ms: 1000 })] })
    expect(armed.writes.timersAdded).toEqual([{ member: 'counter/t|alarm', due: T0 + 1000 }])
    const record = armed.writes.records[0]![1]
    const timers: DueTimer[] = [{ member: 'counter/t|alarm', due: T0 + 1000 }]
    const fired = run({ entries: [entry('t', 'inc', { seq: 1 }, T0 + 2000)], timers, loaded: new Map<string, LoadedRecord>([['counter/t', record]]) })
    // The ring (timer) is applied first: rev 2, then the inc: rev 3.
    expect(fired.views.map((v) => [v.rev, (v.context as { rings: number }).rings])).toEqual([[2, 1], [3, 1]])
    expect(fired.writes.timersRemoved).toEqual(['counter/t|alarm'])
    expect(fired.writes.outbox.map((o) => (o.kind === 'derived' ? o.event.name : o.kind))).toEqual(['rang', 'counted'])
  })

  it('from a backlog, a timer armed by one event fires before the batch\'s later events, as it did live', () => {
    const r = run({ entries: [entry('b', 'arm', { ms: 1000 }), entry('b', 'inc', { seq: 1 }, T0 + 2000)] })
    expect(r.views.map((v) => [v.rev, v.updatedAt, (v.context as { rings: number }).rings])).toEqual([[1, T0, 0], [2, T0 + 1000, 1], [3, T0 + 2000, 1]])
    // Fired within the batch: never written to the timer set.
    expect(r.writes.timersAdded).toEqual([])
  })

  it('a timer armed in the batch but due after its horizon is left pending', () => {
    const r = run({ entries: [entry('b', 'arm', { ms: 1000 }), entry('b', 'inc', { seq: 1 }, T0 + 500)] })
    expect(r.views.map((v) => (v.context as { rings: number }).rings)).toEqual([0, 0])
    expect(r.writes.timersAdded).toEqual([{ member: 'counter/b|alarm', due: T0 + 1000 }])
  })

  it('drops a timer entry that is no longer pending (cancelled since it was read)', () => {
    const record: TwinRecord = { v: 'counting', c: { count: 0, lastSeq: 0, gaps: 0, dupes: 0, rings: 0 }, r: 1, u: T0, t: {}, d: 1 }
    const r = run({ timers: [{ member: 'counter/x|alarm', due: T0 }], loaded: new Map<string, LoadedRecord>([['counter/x', record]]) })
    expect(r.writes.timersRemoved).toEqual(['counter/x|alarm'])
    expect(r.writes.records).toEqual([])
    expect(r.views).toEqual([])
  })

  it('routes a command to the device twin\'s inbox through the outbox, and the device twin records and publishes it', () => {
    const asked = run({ entries: [entry('d', 'blink', { times: 2 })] })
    const routed = asked.writes.outbox.find((o) => o.kind === 'routed')
    expect(routed).toMatchObject({ kind: 'routed', from: 'counter/d', to: 'counter/d', event: '$command' })
    const request = JSON.parse((routed as { payload: string }).payload)
    expect(request).toMatchObject({ name: 'blink', payload: { times: 2 }, by: 'counter/d', timeoutMs: 60_000 })
    const record = asked.writes.records[0]![1]
    const recorded = run({
      entries: [entry('d', '$command', request, T0 + 5, { source: `3:${T0}-0` })],
      loaded: new Map<string, LoadedRecord>([['counter/d', record]]),
    })
    expect(recorded.writes.outbox).toEqual([expect.objectContaining({ kind: 'publish', key: 'counter/d', name: 'blink', message: { id: request.id, payload: { times: 2 }, sentAt: T0 + 5 } })])
    expect(recorded.writes.timersAdded).toEqual([{ member: 'counter/d|$cmd:blink', due: T0 + 5 + 60_000 }])
    const shadow = recorded.writes.records[0]![1]
    expect(shadow.k?.blink).toMatchObject({ status: 'pending', id: request.id })
    expect(shadow.s).toEqual({ 3: `${T0}-0` })
  })

  it('skips a routed entry its target has applied already (exactly once per source)', () => {
    const record: TwinRecord = { v: 'counting', c: { count: 0, lastSeq: 0, gaps: 0, dupes: 0, rings: 0 }, r: 1, u: T0, t: {}, d: 1, s: { 2: `${T0}-5` } }
    const r = run({
      entries: [entry('r', 'inc', { seq: 1 }, T0 + 1, { source: `2:${T0}-5` }), entry('r', 'inc', { seq: 2 }, T0 + 2, { source: `2:${T0}-6` })],
      loaded: new Map<string, LoadedRecord>([['counter/r', record]]),
    })
    expect(r.duplicates).toBe(1)
    expect(r.views.map((v) => (v.context as { lastSeq: number }).lastSeq)).toEqual([2])
  })

  it('feeds the rule actor of the twin\'s group', () => {
    const r = run({ entries: [entry('g1', 'attributes', { group: 'blue' }), entry('g1', 'inc', { seq: 1 }, T0 + 1)] })
    const feeds = r.writes.outbox.filter((o) => o.kind === 'routed')
    expect(feeds.map((f) => f.kind === 'routed' && [f.to, f.event])).toEqual([
      ['counter-total/blue', 'counter.changed'],
      ['counter-total/blue', 'counter.changed'],
      ['counter-total/blue', 'counter.counted'],
    ])
  })

  it('dead-letters input for a twin type that is no longer defined', () => {
    const bad = run({ entries: [{ id: `${T0}-99`, type: 'nope', twinId: 'x', event: 'inc', payload: '{}' }] })
    expect(bad.writes.deadLetters.map((d) => d.code)).toEqual(['TWIN_ERR_UNKNOWN_TYPE'])
  })
})
