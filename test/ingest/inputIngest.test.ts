import { createMachine } from 'xstate'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { defineTwin } from '../../src/definitions/defineTwin.ts'
import { TwinRegistry } from '../../src/definitions/registry.ts'
import { Ingestor } from '../../src/ingest/ingestor.ts'
import { shardOf, twinKey } from '../../src/model/ids.ts'
import { listDeadLetters } from '../../src/store/deadLetters.ts'
import { decodeInboxEntries } from '../../src/store/inboxStream.ts'
import type { Keys } from '../../src/store/keys.ts'
import type { RedisClient } from '../../src/store/redis.ts'
import { dropPrefix, freshRedis, redisCluster, silentLog } from '../support/env.ts'

/**
 * One message on an input topic, every twin type taking it (ADR 0021), on a
 * real Redis (and Redis Cluster in the `cluster` project): one inbox entry per
 * target, each twin's order kept, targets without their key dead-lettered,
 * and the entries of one message written all together or not at all.
 */

const SHARDS = 8
const machine = createMachine({ id: 'm', initial: 'idle', states: { idle: { on: { '*': {} } } } })
const reading = { properties: { motorid: { type: 'string' }, craneid: { type: 'string' }, seq: { type: 'number' } } }
const registry = new TwinRegistry([
  defineTwin({ type: 'motor', version: 1, machine, events: { reading }, inputs: [{ topic: 'plant/temperature', event: 'reading', keyPath: 'motorid', name: 'Temperature' }] }),
  defineTwin({ type: 'crane', version: 1, machine, events: { reading }, inputs: [{ topic: 'plant/temperature', event: 'reading', keyPath: 'craneid', name: 'Temperature', as: 'message' }] }),
])

let redis: RedisClient
let keys: Keys
let prefix: string
let ingestor: Ingestor

beforeEach(() => {
  ;({ redis, keys, prefix } = freshRedis())
  ingestor = new Ingestor({ redis, keys, registry, shards: SHARDS, maxPayloadBytes: 4096, deadLetterMaxLen: 1000, log: silentLog })
})
afterEach(async () => {
  await dropPrefix(redis, prefix)
  await redis.quit()
})

const inboxOf = (type: string, id: string) => keys.shard(shardOf(twinKey(type, id), SHARDS)).inbox
async function entriesOf(type: string, id: string) {
  const all = decodeInboxEntries((await redis.xrange(inboxOf(type, id), '-', '+')) as Array<[string, string[]]>)
  return all.filter((e) => e.type === type && e.twinId === id)
}
const message = (body: object) => Buffer.from(JSON.stringify(body))

describe('messages on input topics', () => {
  it('writes one entry per twin type taking the topic, each in its own shard\'s inbox', async () => {
    // Different shards, so the one write spans two inboxes.
    expect(shardOf('motor/m1', SHARDS)).not.toBe(shardOf('crane/c1', SHARDS))
    await ingestor.fromMqtt('plant/temperature', message({ motorid: 'm1', craneid: 'c1', seq: 1 }))
    const [motor] = await entriesOf('motor', 'm1')
    const [crane] = await entriesOf('crane', 'c1')
    expect(motor).toMatchObject({ event: 'reading', payload: '{"motorid":"m1","craneid":"c1","seq":1}' })
    expect(JSON.parse(crane!.payload)).toEqual({ message: '{"motorid":"m1","craneid":"c1","seq":1}' })
    expect(ingestor.stats).toEqual({ accepted: 2, deadLetters: 0 })
  })

  it('keeps each twin\'s order across messages sent in one burst', async () => {
    const writes = []
    for (let seq = 1; seq <= 200; seq++) writes.push(ingestor.fromMqtt('plant/temperature', message({ motorid: `m${seq % 3}`, craneid: `c${seq % 5}`, seq })))
    await Promise.all(writes)
    for (const [type, id] of [['motor', 'm1'], ['motor', 'm2'], ['crane', 'c0'], ['crane', 'c4']] as const) {
      const seqs = (await entriesOf(type, id)).map((e) => {
        const body = JSON.parse(e.payload)
        return (type === 'crane' ? JSON.parse(body.message) : body).seq as number
      })
      expect(seqs.length).toBeGreaterThan(30)
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
    }
  })

  it('dead-letters a message for a target without its key, and still feeds the others', async () => {
    await ingestor.fromMqtt('plant/temperature', message({ motorid: 'm7', seq: 1 }))
    expect(await entriesOf('motor', 'm7')).toHaveLength(1)
    const [dead] = await listDeadLetters(redis, keys, SHARDS, 10)
    expect(dead).toMatchObject({ code: 'TWIN_ERR_INPUT_KEY_MISSING', src: 'mqtt', topic: 'plant/temperature', event: 'reading', payload: '{"motorid":"m7","seq":1}' })
    expect(dead!.reason).toBe('twin type crane, input Temperature: the message has no value at craneid, the key path naming its twin')
    expect(ingestor.stats).toEqual({ accepted: 1, deadLetters: 1 })
  })

  it('dead-letters a message no target can read once', async () => {
    await ingestor.fromMqtt('plant/temperature', Buffer.from('not json'))
    const dead = await listDeadLetters(redis, keys, SHARDS, 10)
    expect(dead.map((d) => d.code)).toEqual(['TWIN_ERR_PAYLOAD_NOT_JSON'])
  })

  it('writes all of a message\'s entries or none: a failed write rejects (no PUBACK) and leaves no entry behind', async () => {
    // Something that is not a stream where the crane's inbox should be: its XADD cannot succeed.
    await redis.set(inboxOf('crane', 'c3'), 'not a stream')
    await expect(ingestor.fromMqtt('plant/temperature', message({ motorid: 'm3', craneid: 'c3', seq: 1 }))).rejects.toThrow(/WRONGTYPE/)
    // One Redis: one script call, nothing written. Redis Cluster: an XADD per target, so the
    // motor's shard has it; the broker's redelivery gives it to the motor twice (docs/adr/0021).
    expect(await entriesOf('motor', 'm3')).toHaveLength(redisCluster() ? 1 : 0)
    expect(ingestor.stats.accepted).toBe(0)
  })
})

describe('messages on named inputs (POST /inputs/messages)', () => {
  it('feeds every type taking the input, with the messageId for `message` targets', async () => {
    const accepted = await ingestor.fromInput('Temperature', '{"motorid": "m1", "craneid": "c1", "seq": 4}', 'msg-1')
    expect(accepted.map((a) => [a.type, a.id])).toEqual([['motor', 'm1'], ['crane', 'c1']])
    const [crane] = await entriesOf('crane', 'c1')
    expect(JSON.parse(crane!.payload)).toEqual({ message: '{"motorid": "m1", "craneid": "c1", "seq": 4}', messageId: 'msg-1' })
  })

  it('refuses an unknown input and a message no target takes, writing nothing; dead-letters partial refusals', async () => {
    await expect(ingestor.fromInput('Pressure', '{"motorid": "m1"}')).rejects.toMatchObject({ code: 'TWIN_ERR_INPUT_UNKNOWN', message: 'no twin type takes input "Pressure"; inputs: Temperature' })
    await expect(ingestor.fromInput('Temperature', '{"seq": 1}')).rejects.toMatchObject({ code: 'TWIN_ERR_INPUT_KEY_MISSING' })
    expect(await listDeadLetters(redis, keys, SHARDS, 10)).toEqual([])
    await ingestor.fromInput('Temperature', '{"craneid": "c9"}')
    expect(await entriesOf('crane', 'c9')).toHaveLength(1)
    expect((await listDeadLetters(redis, keys, SHARDS, 10)).map((d) => [d.code, d.src, d.topic])).toEqual([['TWIN_ERR_INPUT_KEY_MISSING', 'api', 'inputs/Temperature']])
  })
})
