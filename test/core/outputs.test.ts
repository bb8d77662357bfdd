import { emit, setup } from 'xstate'
import { describe, expect, it } from 'vitest'
import { Drivers } from '../../src/core/drivers.ts'
import { applyShardBatch } from '../../src/core/shardBatch.ts'
import type { LoadedRecord } from '../../src/core/workingSet.ts'
import { defineTwin } from '../../src/definitions/defineTwin.ts'
import { TwinRegistry } from '../../src/definitions/registry.ts'
import type { InboxEntry } from '../../src/model/entries.ts'
import type { LiveTwin } from '../../src/model/record.ts'

/**
 * Outputs (ADR 0021) in the pure shard batch: a derived event asking to be
 * published becomes a checked `topic` outbox entry; one feeding an input
 * becomes routed entries to each twin taking it. No Redis.
 */

type Fire = { type: 'fire'; at: number; name: string; topic?: unknown; input?: unknown; body?: unknown }

const alarm = defineTwin({
  type: 'alarm',
  version: 1,
  events: { fire: { properties: { name: { type: 'string' }, topic: {}, input: {}, body: {} } } },
  outputs: { alert: { publish: { topic: 'topic', payload: 'body' } }, forward: { input: { name: 'input', payload: 'body' } } },
  machine: setup({ types: {} as { events: Fire } }).createMachine({
    id: 'alarm',
    initial: 'on',
    states: { on: { on: { fire: { actions: emit(({ event }) => ({ type: event.name, topic: event.topic, input: event.input, body: event.body })) } } } },
  }),
})

const sink = defineTwin({
  type: 'sink',
  version: 1,
  events: { fed: { properties: { id: { type: 'string' }, n: { type: 'number' } } } },
  inputs: [{ topic: 'plant/feed', event: 'fed', keyPath: 'id', name: 'Feed' }],
  machine: setup({}).createMachine({ id: 'sink', initial: 'idle', states: { idle: { on: { fed: {} } } } }),
})

const lift = defineTwin({
  type: 'lift',
  version: 1,
  topic: 'site/{id}/lift/{event}',
  events: { moved: {} },
  machine: setup({}).createMachine({ id: 'lift', initial: 'idle', states: { idle: { on: { moved: {} } } } }),
})

const registry = new TwinRegistry([alarm, sink, lift])
const drivers = new Drivers(registry)
const T0 = 1_700_000_000_000
let seq = 0

function fire(payload: Omit<Fire, 'type' | 'at'>) {
  const entry: InboxEntry = { id: `${T0}-${seq++}`, type: 'alarm', twinId: 'a1', event: 'fire', payload: JSON.stringify(payload) }
  return applyShardBatch({ registry, drivers, cache: new Map<string, LiveTwin>(), entries: [entry], timers: [], loaded: new Map<string, LoadedRecord>(), historyLength: 0, horizon: T0 })
}

describe('outputs of derived events (pure)', () => {
  it('publishes a derived event\'s payload to the topic it names: a topic entry beside the derived event', () => {
    const r = fire({ name: 'alert', topic: 'alerts/boiler', body: '{"level": 3}' })
    const [derived, topic] = r.writes.outbox
    expect(derived).toMatchObject({ kind: 'derived', event: { name: 'alert' } })
    expect(topic).toEqual({ kind: 'topic', id: `${(derived as any).event.id}:t`, key: 'alarm/a1', topic: 'alerts/boiler', payload: '{"level": 3}', at: T0 })
    expect(r.writes.deadLetters).toEqual([])
    // A payload that is not a string is sent as JSON.
    expect(fire({ name: 'alert', topic: 'alerts/x', body: { level: 1 } }).writes.outbox[1]).toMatchObject({ kind: 'topic', payload: '{"level":1}' })
  })

  it.each([
    ['a wildcard', 'alerts/+', /wildcard/],
    ['a $ topic', '$aws/things/t1/shadow/update', /starts with \$/],
    ['a device topic', 'devices/sink/s1/fed', /under devices\//],
    ['a derived-event topic', 'twins/alarm/a1/events/alert', /under twins\//],
    ['a device topic template', 'site/s1/lift/moved', /device topic template/],
    ['an input topic', 'plant/feed', /input topic/],
    ['no topic', undefined, /not a string/],
    ['an empty topic', '', /empty/],
  ])('refuses to publish to %s: a dead letter, the derived event still goes out', (_what, topic, why) => {
    const r = fire({ name: 'alert', topic, body: 'x' })
    expect(r.writes.outbox.map((o) => o.kind)).toEqual(['derived'])
    expect(r.writes.deadLetters).toEqual([expect.objectContaining({ code: 'TWIN_ERR_PUBLISH_TOPIC', twin: 'alarm/a1', event: 'alert', payload: 'x', src: 'worker' })])
    expect(r.writes.deadLetters[0]!.reason).toMatch(why)
  })

  it('feeds an input: a routed entry to each twin taking it, named by the key in the payload, exactly-once ids', () => {
    const r = fire({ name: 'forward', input: 'Feed', body: '{"id": "s 1", "n": 2}' })
    const [derived, routed] = r.writes.outbox
    expect(routed).toEqual({ kind: 'routed', id: `${(derived as any).event.id}:i0`, from: 'alarm/a1', to: 'sink/s:201', event: 'fed', payload: '{"id": "s 1", "n": 2}', at: T0 })
  })

  it('dead-letters a feed no twin can take: an unknown input, a missing key, a payload that is no object', () => {
    const codes = (body: unknown, input = 'Feed') => fire({ name: 'forward', input, body }).writes.deadLetters.map((d) => d.code)
    expect(codes('{"id": "s1"}', 'Nope')).toEqual(['TWIN_ERR_INPUT_UNKNOWN'])
    expect(codes('{"n": 1}')).toEqual(['TWIN_ERR_INPUT_KEY_MISSING'])
    expect(codes('[1, 2]')).toEqual(['TWIN_ERR_PAYLOAD_NOT_OBJECT'])
    expect(codes('{"id": "s1", "n": "two"}')).toEqual(['TWIN_ERR_PAYLOAD_SCHEMA'])
  })

  it('leaves derived events without an output alone', () => {
    const r = fire({ name: 'other', topic: 'alerts/x', body: 'x' })
    expect(r.writes.outbox.map((o) => o.kind)).toEqual(['derived'])
    expect(r.writes.deadLetters).toEqual([])
  })
})
