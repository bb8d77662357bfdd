import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:net'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { startEmbeddedBroker } from '../../src/embedded/broker.ts'
import { startMqttIngest } from '../../src/ingest/mqttIngest.ts'
import { countDeadLetters, listDeadLetters } from '../../src/store/deadLetters.ts'
import { freePort, silentLog, waitFor } from '../support/env.ts'
import { startMosquitto } from '../support/mosquitto.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'

let p: Pipeline | undefined
/** Run last-in first-out after each test: clients, then ingest, then brokers, then the pipeline. */
const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined)
  await p?.stop()
  p = undefined
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const seqPayload = (seq: number) => JSON.stringify({ seq })

async function device(url: string, clientId: string, protocolVersion: 4 | 5): Promise<MqttClient> {
  // reconnectPeriod 0: a reconnect would resend and blur what the test observes.
  const options: IClientOptions = { clientId, protocolVersion, reconnectPeriod: 0 }
  const client = await mqtt.connectAsync(url, options)
  cleanups.push(() => client.endAsync(true))
  return client
}

async function ingestFrom(url: string, clientId: string, protocolVersion: 4 | 5 = 5) {
  const ingest = await startMqttIngest({ url, clientId, protocolVersion, filters: pipeline().registry.filters, ingestor: pipeline().ingestor, log: silentLog })
  cleanups.push(() => ingest.close())
  return ingest
}

function pipeline(): Pipeline {
  if (!p) throw new Error('no pipeline')
  return p
}

async function counterOf(id: string, count: number) {
  return waitFor(`counter/${id} at count ${count}`, async () => {
    const t = await pipeline().store.get('counter', id)
    return t && (t.context as { count: number }).count >= count ? t : null
  })
}

async function deadLetterTotal(n: number): Promise<Record<string, number>> {
  return waitFor(`${n} dead letters`, async () => {
    const counts = await countDeadLetters(pipeline().redis, pipeline().keys, pipeline().shards)
    return Object.values(counts).reduce((a, b) => a + b, 0) >= n ? counts : null
  })
}

async function inboxLength(): Promise<number> {
  let total = 0
  for (let shard = 0; shard < pipeline().shards; shard++) total += await pipeline().redis.xlen(pipeline().keys.shard(shard).inbox)
  return total
}

/** mosquitto_pub with `-q 1`; `lines` are sent one message per line on stdin (-l). */
function mosquittoPub(port: number, args: string[], lines?: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-q', '1', ...args], { timeout: 10_000 }, (err, _out, stderr) => {
      if (err) reject(new Error(`mosquitto_pub ${args.join(' ')} failed: ${err.message} ${stderr}`))
      else resolve()
    })
    if (lines) child.stdin!.end(`${lines.join('\n')}\n`)
    else child.stdin!.end()
  })
}

/** Bad device messages that reach the ingestor through a '+/+/+' subscription, with their dead-letter code. */
const BAD: Array<[string, string | Buffer, string]> = [
  ['devices/toaster/t1/inc', seqPayload(1), 'TWIN_ERR_UNKNOWN_TYPE'],
  ['devices/counter/bad id/inc', seqPayload(1), 'TWIN_ERR_INVALID_ID'],
  ['devices/counter/t2/inc', 'seq=1', 'TWIN_ERR_PAYLOAD_NOT_JSON'],
  ['devices/counter/t3/inc', '[1,2]', 'TWIN_ERR_PAYLOAD_NOT_OBJECT'],
  ['devices/counter/t4/inc', Buffer.alloc(5000, 'x'), 'TWIN_ERR_PAYLOAD_TOO_LARGE'],
  ['devices/counter/t5/inc', '{"seq":"one"}', 'TWIN_ERR_PAYLOAD_SCHEMA'],
  ['devices/counter/t6/inc', '{"seq":1,"type":"x"}', 'TWIN_ERR_PAYLOAD_RESERVED_FIELD'],
  ['devices/counter/t7/dec', seqPayload(1), 'TWIN_ERR_UNKNOWN_EVENT'],
]
const BAD_COUNTS = Object.fromEntries(BAD.map(([, , code]) => [code, 1]))

describe('aedes (embedded broker) -> ingestor -> worker', () => {
  it('sends each PUBACK only once Redis has the event, then applies every event once, in order, and dead-letters the bad ones', async () => {
    p = await startPipeline()
    // Stopped: the inboxes are not consumed, so what is in Redis when the acks arrive stays countable.
    await p.worker.stop()
    const ingestor = p.ingestor
    const broker = await startEmbeddedBroker({
      port: 0,
      host: '127.0.0.1',
      intercept: (_c, topic, payload) => (topic.startsWith('devices/') ? ingestor.fromMqtt(topic, payload) : undefined),
    })
    cleanups.push(() => broker.close())
    const url = `mqtt://127.0.0.1:${broker.port}`
    const N = 500
    const ids = ['ae-1', 'ae-2']
    // One gateway connection for every device: aedes and the ingestor keep one
    // connection's order, so its n-th PUBACK may come only once n messages are in Redis.
    const gateway = await device(url, 'gateway-aedes', 4)

    // Messages handed to the ingestor so far, and acks that came back before their message was in Redis.
    let sent = 0
    const early: string[] = []
    const publish = (topic: string, payload: string | Buffer) => {
      const nth = ++sent
      return gateway.publishAsync(topic, payload, { qos: 1 }).then(() => {
        const inRedis = ingestor.stats.accepted + ingestor.stats.deadLetters
        if (inRedis < nth) early.push(`${topic}: message ${nth} acked with ${inRedis} in Redis`)
      })
    }
    const publishes: Promise<void>[] = []
    for (let seq = 1; seq <= N; seq++) {
      for (const id of ids) publishes.push(publish(`devices/counter/${id}/inc`, seqPayload(seq)))
      const bad = seq % 60 === 0 ? BAD[seq / 60 - 1] : undefined
      if (bad) publishes.push(publish(bad[0], bad[1]))
    }
    // A bad-topic publish is dead-lettered; a topic outside devices/ passes the broker untouched.
    publishes.push(publish('devices/counter/ae-1/inc/extra', seqPayload(1)))
    publishes.push(gateway.publishAsync('elsewhere/counter/ae-1/inc', 'not for the engine', { qos: 1 }).then(() => undefined))
    await Promise.all(publishes)

    expect(early).toEqual([])
    expect(await inboxLength()).toBe(ids.length * N)
    expect(ingestor.stats).toEqual({ accepted: ids.length * N, deadLetters: BAD.length + 1 })
    expect(await countDeadLetters(p.redis, p.keys, p.shards)).toEqual({ ...BAD_COUNTS, TWIN_ERR_BAD_TOPIC: 1 })
    const dead = await listDeadLetters(p.redis, p.keys, p.shards, 100)
    expect(dead.map((d) => [d.topic, d.code, d.src]).sort()).toEqual(
      [...BAD.map(([topic, , code]) => [topic, code, 'mqtt']), ['devices/counter/ae-1/inc/extra', 'TWIN_ERR_BAD_TOPIC', 'mqtt']].sort(),
    )

    const worker = await p.newWorker()
    for (const id of ids) {
      const twin = await counterOf(id, N)
      expect(twin.context, id).toMatchObject({ count: N, lastSeq: N, gaps: 0, dupes: 0 })
      expect(twin.rev).toBe(N)
    }
  })
})

describe('mosquitto -> startMqttIngest -> ingestor -> worker', () => {
  it('applies events from MQTT 5, MQTT 3.1.1 and mosquitto_pub once, in order, PUBACKing only what Redis has', async () => {
    p = await startPipeline()
    const mq = await startMosquitto()
    cleanups.push(() => mq.stop())
    const ingest = await ingestFrom(mq.url, `ingest-test-${randomUUID().slice(0, 8)}`)
    let pubacks = 0
    const early: number[] = []
    ingest.client.on('packetsend', (packet) => {
      if (packet.cmd !== 'puback') return
      pubacks++
      if (p!.ingestor.stats.accepted + p!.ingestor.stats.deadLetters < pubacks) early.push(pubacks)
    })

    const N = 300
    const v5 = await device(mq.url, 'dev-v5', 5)
    const v4 = await device(mq.url, 'dev-v4', 4)
    const publishes: Promise<unknown>[] = []
    for (let seq = 1; seq <= N; seq++) {
      publishes.push(v5.publishAsync('devices/counter/mq5/inc', seqPayload(seq), { qos: 1 }))
      publishes.push(v4.publishAsync('devices/counter/mq4/inc', seqPayload(seq), { qos: 1 }))
    }
    BAD.forEach(([topic, payload], i) => publishes.push((i % 2 ? v4 : v5).publishAsync(topic, payload, { qos: 1 })))
    // Not matched by the subscription filter devices/+/+/+: the broker never delivers it, so no dead letter.
    publishes.push(v4.publishAsync('devices/counter/mq4/inc/extra', seqPayload(1), { qos: 1 }))
    const cliLines = Array.from({ length: 200 }, (_, i) => seqPayload(i + 1))
    await Promise.all([
      ...publishes,
      mosquittoPub(mq.port, ['-V', 'mqttv5', '-i', 'dev-cli-5', '-t', 'devices/counter/cli5/inc', '-l'], cliLines),
      mosquittoPub(mq.port, ['-V', 'mqttv311', '-i', 'dev-cli-4', '-t', 'devices/counter/cli4/inc', '-l'], cliLines),
      mosquittoPub(mq.port, ['-i', 'dev-cli-bad1', '-t', 'devices/counter/cli-empty/inc', '-n']),
      mosquittoPub(mq.port, ['-i', 'dev-cli-bad2', '-t', 'devices/counter/cli-text/inc', '-m', 'hello']),
    ])

    for (const [id, n] of [['mq5', N], ['mq4', N], ['cli5', 200], ['cli4', 200]] as const) {
      const twin = await counterOf(id, n)
      expect(twin.context, id).toMatchObject({ count: n, lastSeq: n, gaps: 0, dupes: 0 })
    }
    const counts = await deadLetterTotal(BAD.length + 2)
    expect(counts).toEqual({ ...BAD_COUNTS, TWIN_ERR_PAYLOAD_SCHEMA: 2, TWIN_ERR_PAYLOAD_NOT_JSON: 2 })
    const dead = await listDeadLetters(p.redis, p.keys, p.shards, 100)
    expect(dead.find((d) => d.topic === 'devices/counter/cli-empty/inc')).toMatchObject({
      code: 'TWIN_ERR_PAYLOAD_SCHEMA', src: 'mqtt', payload: '', reason: `"inc" payload is invalid: payload must have required property 'seq'`,
    })
    expect(dead.find((d) => d.topic === 'devices/counter/cli-text/inc')).toMatchObject({ code: 'TWIN_ERR_PAYLOAD_NOT_JSON', payload: 'hello' })
    expect(dead.find((d) => d.topic === 'devices/counter/t4/inc')?.payload).toBe(`${'x'.repeat(1024)}…(5000 bytes)`)

    const total = 2 * N + 2 * 200 + BAD.length + 2
    expect(p.ingestor.stats).toEqual({ accepted: 2 * N + 2 * 200, deadLetters: BAD.length + 2 })
    await waitFor('every PUBACK sent', () => pubacks === total)
    expect(early).toEqual([])
  })

  it.each([5, 4] as const)('MQTT %i: queues QoS 1 events while the ingest client is down and applies them once after it reconnects', async (protocolVersion) => {
    p = await startPipeline()
    const mq = await startMosquitto()
    cleanups.push(() => mq.stop())
    const clientId = `ingest-test-${randomUUID().slice(0, 8)}`
    const first = await ingestFrom(mq.url, clientId, protocolVersion)
    const dev = await device(mq.url, `dev-redeliver-${protocolVersion}`, protocolVersion)

    const publishRange = (from: number, to: number) => {
      const all: Promise<unknown>[] = []
      for (let seq = from; seq <= to; seq++) all.push(dev.publishAsync('devices/counter/r/inc', seqPayload(seq), { qos: 1 }))
      return Promise.all(all)
    }
    await publishRange(1, 100)
    await counterOf('r', 100)
    await first.close()

    // The broker acknowledges these and keeps them in the offline session.
    await publishRange(101, 400)
    await dev.publishAsync('devices/counter/r/inc', 'broken', { qos: 1 })
    await sleep(200)
    expect(p.ingestor.stats.accepted).toBe(100)

    const second = await ingestFrom(mq.url, clientId, protocolVersion)
    expect(second.client.connected).toBe(true)
    await counterOf('r', 400)
    expect(await deadLetterTotal(1)).toEqual({ TWIN_ERR_PAYLOAD_NOT_JSON: 1 })
    await sleep(300)
    const twin = await p.store.get('counter', 'r')
    expect(twin?.context).toMatchObject({ count: 400, lastSeq: 400, gaps: 0, dupes: 0 })
    expect(twin?.rev).toBe(400)
    expect(p.ingestor.stats).toEqual({ accepted: 400, deadLetters: 1 })
  })

  it('close() during a burst: what was written before the close is acknowledged, so nothing is applied twice after a restart', async () => {
    p = await startPipeline()
    const mq = await startMosquitto()
    cleanups.push(() => mq.stop())
    const clientId = `ingest-test-${randomUUID().slice(0, 8)}`
    // The close starts from inside the 300th message's ingest, so it lands mid-burst however fast ingest is.
    let closing: Promise<void> | undefined
    let seen = 0
    const real = pipeline().ingestor
    const tripwire = {
      partitionOf: real.partitionOf.bind(real),
      fromMqtt: (topic: string, payload: Buffer) => {
        if (++seen === 300) closing = first.close()
        return real.fromMqtt(topic, payload)
      },
    } as unknown as typeof real
    const first = await startMqttIngest({ url: mq.url, clientId, protocolVersion: 5, filters: pipeline().registry.filters, ingestor: tripwire, log: silentLog })
    const dev = await device(mq.url, 'dev-burst', 5)

    const N = 3000
    const publishes: Promise<unknown>[] = []
    for (let seq = 1; seq <= N; seq++) publishes.push(dev.publishAsync('devices/counter/burst/inc', seqPayload(seq), { qos: 1 }))
    await waitFor('the close under way', () => closing !== undefined, 10_000)
    await closing
    const acceptedAtClose = p.ingestor.stats.accepted
    await Promise.all(publishes)

    await ingestFrom(mq.url, clientId)
    const twin = await counterOf('burst', N)
    await sleep(300)
    const final = await p.store.get('counter', 'burst')
    const ctx = final?.context as { count: number; dupes: number; gaps: number; lastSeq: number }
    // A failure here means close() let events reach Redis without their PUBACK
    // reaching the broker, which then redelivered them to the new session.
    expect({ acceptedAtClose: acceptedAtClose < N, count: ctx.count, lastSeq: ctx.lastSeq, gaps: ctx.gaps, dupes: ctx.dupes })
      .toEqual({ acceptedAtClose: true, count: N, lastSeq: N, gaps: 0, dupes: 0 })
    expect(twin.rev).toBeGreaterThanOrEqual(N)
    expect(p.ingestor.stats.accepted).toBe(N)
  })
})

describe('several ingest processes on mosquitto', () => {
  it('partitioned (INGEST_PARTITION): every device on one ingest, order kept, each event applied once', async () => {
    p = await startPipeline()
    const mq = await startMosquitto()
    cleanups.push(() => mq.stop())
    const tag = randomUUID().slice(0, 8)
    const ingests = await Promise.all([0, 1].map((index) =>
      startMqttIngest({ url: mq.url, clientId: `ingest-${index}-${tag}`, protocolVersion: 5, filters: pipeline().registry.filters, ingestor: pipeline().ingestor, log: silentLog, partition: { index, count: 2 } })))
    for (const ingest of ingests) cleanups.push(() => ingest.close())
    const accepted = () => pipeline().ingestor.stats.accepted
    const dev = await device(mq.url, `dev-${tag}`, 5)
    const ids = Array.from({ length: 12 }, (_, i) => `part${i}`)
    const N = 60
    const publishes: Promise<unknown>[] = []
    for (let seq = 1; seq <= N; seq++) for (const id of ids) publishes.push(dev.publishAsync(`devices/counter/${id}/inc`, seqPayload(seq), { qos: 1 }))
    await Promise.all(publishes)
    for (const id of ids) {
      const twin = await counterOf(id, N)
      expect(twin.context).toMatchObject({ count: N, lastSeq: N, gaps: 0, dupes: 0 })
    }
    // Each event went through exactly one of the two: the ingestor saw each once.
    expect(accepted()).toBe(N * ids.length)
    const partitions = new Set(ids.map((id) => pipeline().ingestor.partitionOf(`devices/counter/${id}/inc`, 2)))
    expect(partitions).toEqual(new Set([0, 1]))
  })
})

describe('startMqttIngest when the broker is down', () => {
  it('rejects, and leaves no client behind that connects later under the same client id', async () => {
    p = await startPipeline()
    const port = await freePort()
    await expect(ingestFrom(`mqtt://127.0.0.1:${port}`, 'ingest-test-down')).rejects.toMatchObject({ code: 'ECONNREFUSED' })

    // The broker comes up: a client left reconnecting would now send CONNECT
    // with the ingest client id, and fight any new ingest client for it.
    const connects: string[] = []
    const server = createServer((socket) => socket.once('data', (data) => {
      // 0x10: CONNECT (MQTT 5.0 section 3.1); the client id is in its payload.
      connects.push(`${data[0] === 0x10 ? 'CONNECT' : `packet ${data[0]}`} ${data.includes('ingest-test-down') ? 'as ingest-test-down' : ''}`)
      socket.destroy()
    }))
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((resolve) => server.close(resolve)))
    await sleep(1_500)
    expect(connects).toEqual([])
  })
})
