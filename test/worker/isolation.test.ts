import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import mqtt from 'mqtt'
import { loadTwinRegistry, type TwinRegistry } from '../../src/definitions/registry.ts'
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/embedded/broker.ts'
import { shardOf, twinKey } from '../../src/model/ids.ts'
import { listDeadLetters } from '../../src/store/deadLetters.ts'
import { ROOT, waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'

/**
 * One twin's bad value never stalls the others (issue: "one twin stalls
 * everyone"): each poison pill is dead-lettered for its twin alone, while a
 * healthy twin in the same shard keeps being applied and its derived events
 * keep being published on MQTT.
 */

const SHARDS = 8
// Both in shard 5 of 8: the poisoned twin and the healthy one share a batch.
const POISONED = 'p1'
const HEALTHY = 'h3'

let registry: TwinRegistry
let broker: EmbeddedBroker
let p: Pipeline | undefined

beforeAll(async () => {
  registry = await loadTwinRegistry(`${ROOT}/test/fixtures/poison/twins`)
  expect(shardOf(twinKey('poison', POISONED), SHARDS)).toBe(shardOf(twinKey('counter', HEALTHY), SHARDS))
})

afterEach(async () => {
  await p?.stop()
  p = undefined
  await broker?.close()
})

async function start(): Promise<{ p: Pipeline; published: string[] }> {
  broker = await startEmbeddedBroker({ port: 0 })
  const url = `mqtt://127.0.0.1:${broker.port}`
  const watcher = await mqtt.connectAsync(url)
  const published: string[] = []
  watcher.on('message', (topic) => published.push(topic))
  await watcher.subscribeAsync('twins/#', { qos: 1 })
  p = await startPipeline({ registry, shards: SHARDS, mqttUrl: url })
  return { p, published }
}

const send = (p: Pipeline, type: string, id: string, event: string, payload: object = {}) => p.ingestor.fromApi(type, id, event, JSON.stringify(payload))

describe('a poisoned twin beside a healthy one in the same shard', () => {
  it.each([
    ['a function in context', 'fn', {}, 'TWIN_ERR_STEP_UNSTORABLE', /context\.fn is a function/],
    ['a class instance in context', 'widget', {}, 'TWIN_ERR_STEP_UNSTORABLE', /context\.widget is an instance of Widget/],
    ['an emitted name MQTT forbids', 'name', { name: 'alarm#1' }, 'TWIN_ERR_EMIT_INVALID', /alarm#1/],
    ['an emitted name of the engine\'s', 'name', { name: '$publish' }, 'TWIN_ERR_EMIT_INVALID', /\$publish/],
  ])('%s: dead-lettered for that twin; the healthy twin is applied and published', async (_what, event, payload, code, reason) => {
    const { p, published } = await start()
    await send(p, 'poison', POISONED, 'ok')
    await send(p, 'poison', POISONED, event, payload)
    await send(p, 'counter', HEALTHY, 'inc', { seq: 1 })
    await send(p, 'poison', POISONED, 'ok')
    await send(p, 'counter', HEALTHY, 'inc', { seq: 2 })
    const healthy = await waitFor('healthy twin applied', async () => {
      const t = await p.store.get('counter', HEALTHY)
      return t?.rev === 2 ? t : null
    })
    expect(healthy.context).toMatchObject({ count: 2, lastSeq: 2 })
    // The poisoned twin took the events around the pill, and only the pill was refused.
    const poisoned = await waitFor('poisoned twin applied', async () => {
      const t = await p.store.get('poison', POISONED)
      return t?.rev === 2 ? t : null
    })
    expect(poisoned.context).toEqual({ oks: 2 })
    const dead = await listDeadLetters(p.redis, p.keys, p.shards, 10)
    expect(dead.map((d) => [d.code, d.twin, d.event])).toEqual([[code, `poison/${POISONED}`, event]])
    expect(dead[0]!.reason).toMatch(reason)
    // Derived events of both twins reach MQTT: the relay is not stuck on the pill.
    await waitFor('derived events published', () => published.filter((t) => t === `twins/counter/${HEALTHY}/events/counted`).length === 2 && published.filter((t) => t === `twins/poison/${POISONED}/events/okd`).length === 2)
    expect(published.some((t) => t.includes('#') || t.includes('$') || t.includes('commands'))).toBe(false)
  })

  it('a BigInt and a Date are kept: stored faithfully, shown to apps as JSON, and the same after a reload from Redis', async () => {
    const { p } = await start()
    await send(p, 'poison', POISONED, 'big', { n: 7 })
    await send(p, 'poison', POISONED, 'date', { ms: 1_700_000_000_000 })
    await send(p, 'counter', HEALTHY, 'inc', { seq: 1 })
    const view = await waitFor('applied', async () => {
      const t = await p.store.get('poison', POISONED)
      return t?.rev === 2 ? t : null
    })
    expect(view.context).toEqual({ oks: 0, big: '700000000000000000000', when: '2023-11-14T22:13:20.000Z' })
    const record = await p.store.getRecord('poison', POISONED)
    expect((record!.c as { big: bigint }).big).toBe(700_000_000_000_000_000_000n)
    expect((record!.c as { when: Date }).when).toBeInstanceOf(Date)
    expect(await listDeadLetters(p.redis, p.keys, p.shards, 10)).toEqual([])
  })
})
