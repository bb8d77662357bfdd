import { afterEach, describe, expect, it } from 'vitest'
import { TwinError } from '../../src/errors.ts'
import { shardOf, twinKey } from '../../src/model/ids.ts'
import { countDeadLetters, listDeadLetters, type DeadLetter } from '../../src/store/deadLetters.ts'
import { waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'

let p: Pipeline
afterEach(async () => p?.stop())

const json = (value: unknown) => Buffer.from(JSON.stringify(value))
const inc = (id: string, seq: number) => p.ingestor.fromMqtt(`devices/counter/${id}/inc`, json({ seq }))

async function twinAt(id: string, rev: number) {
  return waitFor(`counter/${id} at rev ${rev}`, async () => {
    const t = await p.store.get('counter', id)
    return t && t.rev >= rev ? t : null
  })
}

/** Bad MQTT inputs, one of each kind: [what, topic, payload, code, reason]. */
function badInputs(): Array<[string, string, Buffer, string, string]> {
  const longTopic = `devices/counter/${'L'.repeat(600 - 'devices/counter//inc'.length)}/inc`
  return [
    ['too many levels', 'devices/counter/t1/inc/extra', json({ seq: 1 }), 'TWIN_ERR_BAD_TOPIC',
      'topic "devices/counter/t1/inc/extra" matches no twin topic template (devices/+/+/+)'],
    ['too few levels', 'devices/counter', json({ seq: 1 }), 'TWIN_ERR_BAD_TOPIC',
      'topic "devices/counter" matches no twin topic template (devices/+/+/+)'],
    ['another literal level', 'sensors/counter/t2/inc', json({ seq: 1 }), 'TWIN_ERR_BAD_TOPIC',
      'topic "sensors/counter/t2/inc" matches no twin topic template (devices/+/+/+)'],
    ['a 600-character topic', longTopic, json({ seq: 1 }), 'TWIN_ERR_BAD_TOPIC',
      `topic "${longTopic.slice(0, 120)}…" matches no twin topic template (devices/+/+/+)`],
    ['an unknown twin type', 'devices/toaster/t3/inc', json({ seq: 1 }), 'TWIN_ERR_UNKNOWN_TYPE',
      'no twin type "toaster"; known types: counter'],
    ['an invalid id', 'devices/counter/bad id/inc', json({ seq: 1 }), 'TWIN_ERR_INVALID_ID',
      'twin id "bad id" is invalid: use 1-128 of A-Z a-z 0-9 . _ : -'],
    ['an empty id', 'devices/counter//inc', json({ seq: 1 }), 'TWIN_ERR_INVALID_ID',
      'twin id "" is invalid: use 1-128 of A-Z a-z 0-9 . _ : -'],
    ['a non-JSON payload', 'devices/counter/t4/inc', Buffer.from('seq=1'), 'TWIN_ERR_PAYLOAD_NOT_JSON',
      'payload is not valid JSON: '],
    ['an array payload', 'devices/counter/t5/inc', Buffer.from('[1]'), 'TWIN_ERR_PAYLOAD_NOT_OBJECT',
      'payload must be a JSON object, got an array'],
    ['a null payload', 'devices/counter/t6/inc', Buffer.from('null'), 'TWIN_ERR_PAYLOAD_NOT_OBJECT',
      'payload must be a JSON object, got null'],
    ['an oversize payload', 'devices/counter/t7/inc', Buffer.alloc(5000, 'a'), 'TWIN_ERR_PAYLOAD_TOO_LARGE',
      'payload is 5000 bytes; the limit is 4096 (MAX_PAYLOAD_BYTES)'],
    ['a schema failure', 'devices/counter/t8/inc', json({ seq: 'one' }), 'TWIN_ERR_PAYLOAD_SCHEMA',
      '"inc" payload is invalid: payload/seq must be integer'],
    ['an empty payload for an event that needs fields', 'devices/counter/t9/inc', Buffer.alloc(0), 'TWIN_ERR_PAYLOAD_SCHEMA',
      `"inc" payload is invalid: payload must have required property 'seq'`],
    ['a reserved field', 'devices/counter/t10/inc', json({ seq: 1, at: 5 }), 'TWIN_ERR_PAYLOAD_RESERVED_FIELD',
      'payload field "at" is reserved by the engine; rename it'],
    ['an unknown event', 'devices/counter/t11/dec', json({ seq: 1 }), 'TWIN_ERR_UNKNOWN_EVENT',
      'twin type "counter" has no event "dec"; it accepts: inc, arm, disarm, lock, blink, attributes, ack'],
  ]
}

const expectedCounts = {
  TWIN_ERR_BAD_TOPIC: 4,
  TWIN_ERR_UNKNOWN_TYPE: 1,
  TWIN_ERR_INVALID_ID: 2,
  TWIN_ERR_PAYLOAD_NOT_JSON: 1,
  TWIN_ERR_PAYLOAD_NOT_OBJECT: 2,
  TWIN_ERR_PAYLOAD_TOO_LARGE: 1,
  TWIN_ERR_PAYLOAD_SCHEMA: 2,
  TWIN_ERR_PAYLOAD_RESERVED_FIELD: 1,
  TWIN_ERR_UNKNOWN_EVENT: 1,
}

/** The dead letter for a bad input: topics are unique per input, cut at 512 characters. */
function deadLetterFor(dead: DeadLetter[], topic: string): DeadLetter {
  const kept = topic.length > 512 ? `${topic.slice(0, 512)}…` : topic
  const found = dead.filter((d) => d.topic === kept)
  expect(found, `dead letters for ${kept.slice(0, 60)}`).toHaveLength(1)
  return found[0]!
}

function expectDeadLetters(dead: DeadLetter[], inputs: ReturnType<typeof badInputs>): void {
  expect(dead).toHaveLength(inputs.length)
  for (const [what, topic, payload, code, reason] of inputs) {
    const d = deadLetterFor(dead, topic)
    expect({ what, code: d.code, src: d.src }).toEqual({ what, code, src: 'mqtt' })
    if (code === 'TWIN_ERR_PAYLOAD_NOT_JSON') expect(d.reason).toMatch(/^payload is not valid JSON: \S/)
    else expect(d.reason, what).toBe(reason)
    if (code !== 'TWIN_ERR_PAYLOAD_TOO_LARGE') expect(d.payload, what).toBe(payload.toString())
  }
}

describe('Ingestor.fromMqtt: bad input becomes a dead letter', () => {
  it('resolves for each kind of bad input, records it with code and reason, and still applies the valid events around it', async () => {
    p = await startPipeline()
    const inputs = badInputs()
    let seq = 0
    for (const [what, topic, payload] of inputs) {
      await inc('ok', ++seq)
      await expect(p.ingestor.fromMqtt(topic, payload), what).resolves.toBeUndefined()
    }
    await inc('ok', ++seq)

    const dead = await listDeadLetters(p.redis, p.keys, p.shards, 100)
    expectDeadLetters(dead, inputs)
    expect(await countDeadLetters(p.redis, p.keys, p.shards)).toEqual(expectedCounts)
    expect(p.ingestor.stats).toEqual({ accepted: seq, deadLetters: inputs.length })

    const twin = await twinAt('ok', seq)
    expect(twin.rev).toBe(seq)
    expect(twin.context).toMatchObject({ count: seq, lastSeq: seq, gaps: 0, dupes: 0 })
    // None of the refused events created a twin.
    for (const id of ['t1', 't3', 't4', 't5', 't7', 't8', 't9', 't10', 't11']) expect(await p.store.get('counter', id), id).toBeNull()
  })

  it('keeps the topic cut to 512 characters and the payload cut to its first 1024 bytes', async () => {
    p = await startPipeline()
    const inputs = badInputs()
    const [, longTopic] = inputs.find(([what]) => what === 'a 600-character topic')!
    expect(longTopic).toHaveLength(600)
    await p.ingestor.fromMqtt(longTopic, json({ seq: 1 }))
    const big = Buffer.concat([Buffer.from('{"seq":1,"blob":"'), Buffer.alloc(5000 - 19, 'b'), Buffer.from('"}')])
    expect(big.length).toBe(5000)
    await p.ingestor.fromMqtt('devices/counter/big/inc', big)

    const dead = await listDeadLetters(p.redis, p.keys, p.shards, 10)
    expect(deadLetterFor(dead, longTopic).topic).toBe(`${longTopic.slice(0, 512)}…`)
    const oversize = deadLetterFor(dead, 'devices/counter/big/inc')
    expect(oversize.code).toBe('TWIN_ERR_PAYLOAD_TOO_LARGE')
    expect(oversize.payload).toBe(`${big.subarray(0, 1024).toString()}…(5000 bytes)`)
  })

  it('splits a topic of exactly 512 characters and refuses a longer one unsplit', async () => {
    p = await startPipeline()
    const at512 = `devices/counter/${'i'.repeat(512 - 20)}/inc`
    const at513 = `devices/counter/${'i'.repeat(513 - 20)}/inc`
    expect([at512.length, at513.length]).toEqual([512, 513])
    await p.ingestor.fromMqtt(at512, json({ seq: 1 }))
    await p.ingestor.fromMqtt(at513, json({ seq: 1 }))
    const dead = await listDeadLetters(p.redis, p.keys, p.shards, 10)
    expect(deadLetterFor(dead, at512).code).toBe('TWIN_ERR_INVALID_ID')
    expect(deadLetterFor(dead, at513).code).toBe('TWIN_ERR_BAD_TOPIC')
  })

  it('accepts payloads up to the 4096-byte limit and an empty payload as {}', async () => {
    p = await startPipeline()
    const exact = Buffer.from(`{"seq":1}${' '.repeat(4096 - 9)}`)
    expect(exact.length).toBe(4096)
    await p.ingestor.fromMqtt('devices/counter/edge/inc', exact)
    await p.ingestor.fromMqtt('devices/counter/edge/inc', Buffer.from(`{"seq":2}${' '.repeat(4097 - 9)}`))
    await p.ingestor.fromMqtt('devices/counter/edge/disarm', Buffer.alloc(0))
    await p.ingestor.fromMqtt('devices/counter/edge/inc', json({ seq: 2 }))

    const twin = await twinAt('edge', 3)
    expect(twin.context).toMatchObject({ count: 2, lastSeq: 2, gaps: 0, dupes: 0 })
    expect(await countDeadLetters(p.redis, p.keys, p.shards)).toEqual({ TWIN_ERR_PAYLOAD_TOO_LARGE: 1 })
  })

  it('keeps each device in order when good and bad inputs share one batch', async () => {
    p = await startPipeline()
    const inputs = badInputs()
    const calls: Promise<void>[] = []
    // Every call in the same tick: the ingestor writes them in one pipeline.
    for (let seq = 1; seq <= 300; seq++) {
      calls.push(inc('b1', seq), inc('b2', seq))
      const bad = inputs[seq % 50]
      if (bad) calls.push(p.ingestor.fromMqtt(bad[1], bad[2]))
    }
    await Promise.all(calls)
    expect(p.ingestor.stats).toEqual({ accepted: 600, deadLetters: inputs.length * 6 })

    for (const id of ['b1', 'b2']) {
      const twin = await twinAt(id, 300)
      expect(twin.context, id).toMatchObject({ count: 300, lastSeq: 300, gaps: 0, dupes: 0 })
    }
    const counts = await countDeadLetters(p.redis, p.keys, p.shards)
    expect(counts).toEqual(Object.fromEntries(Object.entries(expectedCounts).map(([code, n]) => [code, n * 6])))
  })
})

describe('Ingestor.fromApi', () => {
  it('returns the shard and inbox entry of a valid event', async () => {
    p = await startPipeline()
    const before = Date.now()
    const accepted = await p.ingestor.fromApi('counter', 'api-1', 'inc', '{"seq":1}')
    expect(accepted.shard).toBe(shardOf(twinKey('counter', 'api-1'), p.shards))
    expect(accepted.entryId).toMatch(/^\d+-\d+$/)
    expect(Number(accepted.entryId.split('-')[0])).toBeGreaterThanOrEqual(before - 1000)
    const twin = await twinAt('api-1', 1)
    expect(twin.context).toMatchObject({ count: 1, lastSeq: 1 })
  })

  it.each([
    ['an unknown type', ['toaster', 'a', 'inc', '{"seq":1}'], 'TWIN_ERR_UNKNOWN_TYPE'],
    ['an id with a slash', ['counter', 'a/b', 'inc', '{"seq":1}'], 'TWIN_ERR_INVALID_ID'],
    ['an empty id', ['counter', '', 'inc', '{"seq":1}'], 'TWIN_ERR_INVALID_ID'],
    ['an unknown event', ['counter', 'a', 'dec', '{"seq":1}'], 'TWIN_ERR_UNKNOWN_EVENT'],
    ['a non-JSON payload', ['counter', 'a', 'inc', 'seq=1'], 'TWIN_ERR_PAYLOAD_NOT_JSON'],
    ['a non-object payload', ['counter', 'a', 'inc', '"one"'], 'TWIN_ERR_PAYLOAD_NOT_OBJECT'],
    ['an oversize payload', ['counter', 'a', 'inc', Buffer.alloc(4097, ' ')], 'TWIN_ERR_PAYLOAD_TOO_LARGE'],
    ['a schema failure', ['counter', 'a', 'inc', '{"seq":0}'], 'TWIN_ERR_PAYLOAD_SCHEMA'],
    ['a reserved field', ['counter', 'a', 'inc', '{"seq":1,"type":"x"}'], 'TWIN_ERR_PAYLOAD_RESERVED_FIELD'],
  ] as const)('rejects %s with a TwinError and writes no dead letter', async (_what, args, code) => {
    p = await startPipeline()
    const [type, id, event, payload] = args
    const call = p.ingestor.fromApi(type, id, event, payload)
    await expect(call).rejects.toBeInstanceOf(TwinError)
    await expect(call).rejects.toMatchObject({ code })
    expect(await listDeadLetters(p.redis, p.keys, p.shards, 10)).toEqual([])
    expect(await countDeadLetters(p.redis, p.keys, p.shards)).toEqual({})
    expect(p.ingestor.stats).toEqual({ accepted: 0, deadLetters: 0 })
    let inboxed = 0
    for (let shard = 0; shard < p.shards; shard++) inboxed += await p.redis.xlen(p.keys.shard(shard).inbox)
    expect(inboxed).toBe(0)
  })
})
