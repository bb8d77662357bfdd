import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/embedded/broker.ts'
import { shardOf, twinKey } from '../../src/model/ids.ts'
import type { TwinRecord } from '../../src/model/record.ts'
import { isCommandTopic } from '../../src/model/topics.ts'
import { byName } from '../../src/store/outboxStream.ts'
import { META } from '../../src/store/shardMeta.ts'
import { TOTAL_LIMIT } from '../fixtures/rules/counterTotal.ts'
import { waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'

/**
 * Rules, commands and attributes through the real runtime: ingest -> worker ->
 * outbox -> relay -> the rule actor's inbox -> rule step -> command -> the
 * target twin -> MQTT to a real subscriber acting as the device -> its ack.
 * The fixture rule `counter-total` (test/fixtures/rules) groups counters by
 * their `group` attribute.
 */
describe('rules and device commands', () => {
  let broker: EmbeddedBroker
  let ingest: ((topic: string, payload: Buffer) => Promise<void>) | undefined
  let p: Pipeline
  let device: MqttClient
  const commands: Array<{ topic: string; body: { id: string; payload: Record<string, unknown>; sentAt: number } }> = []

  beforeAll(async () => {
    broker = await startEmbeddedBroker({
      port: 0,
      intercept: (_client, topic, payload) => (topic.startsWith('devices/') && !isCommandTopic(topic) ? ingest?.(topic, payload) : undefined),
    })
  })
  afterAll(() => broker.close())

  beforeEach(async () => {
    commands.length = 0
    p = await startPipeline({ mqttUrl: `mqtt://127.0.0.1:${broker.port}` })
    ingest = (topic, payload) => p.ingestor.fromMqtt(topic, payload)
    device = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`)
    device.on('message', (topic, payload) => commands.push({ topic, body: JSON.parse(payload.toString()) }))
    await device.subscribeAsync('devices/counter/+/commands/#', { qos: 1 })
  })
  afterEach(async () => {
    ingest = undefined
    await device.endAsync(true)
    await p.stop()
  })

  const publish = (topic: string, body: object) => device.publishAsync(topic, JSON.stringify(body), { qos: 1 })
  const rule = (group: string) => p.store.get('counter-total', group)
  const record = async (type: string, id: string): Promise<TwinRecord> => {
    const key = twinKey(type, id)
    return JSON.parse((await p.redis.hget(p.keys.shard(shardOf(key, p.shards)).twins, key))!) as TwinRecord
  }

  it('feeds each change and derived event of a group member to the rule exactly once, and commands the device', async () => {
    await publish('devices/counter/a1/attributes', { group: 'g1' })
    await publish('devices/counter/a2/attributes', { group: 'g1' })
    // A counter outside any group feeds no rule.
    await publish('devices/counter/lone/inc', { seq: 1 })
    for (let seq = 1; seq <= 3; seq++) {
      await publish('devices/counter/a1/inc', { seq })
      await publish('devices/counter/a2/inc', { seq })
    }
    const g1 = await waitFor('the rule saw 6 counted events and both counts', async () => {
      const view = await rule('g1')
      const c = view?.context as { counts: Record<string, number>; events: number } | undefined
      return c?.events === 6 && c.counts.a1 === 3 && c.counts.a2 === 3 ? view : null
    })
    expect(g1.context).toMatchObject({ alerted: true })

    // Crossing TOTAL_LIMIT commanded the counter that crossed it, through its twin.
    const sent = await waitFor('a command on the device topic', () => commands[0])
    expect(commands).toHaveLength(1)
    const target = sent.topic.split('/')[2]!
    expect(sent.topic).toBe(`devices/counter/${target}/commands/slowDown`)
    expect(sent.body.payload).toEqual({ total: TOTAL_LIMIT })
    const pending = (await p.store.get('counter', target))!.commands!.slowDown!
    expect(pending).toMatchObject({ id: sent.body.id, status: 'pending', by: 'counter-total/g1', payload: { total: TOTAL_LIMIT } })

    // The device acknowledges: desired and reported side by side, like a device shadow.
    await publish(`devices/counter/${target}/ack`, { id: sent.body.id, reported: { rate: 'slow' } })
    const acked = await waitFor('the ack on the twin', async () => {
      const c = (await p.store.get('counter', target))?.commands?.slowDown
      return c?.status === 'acked' ? c : null
    })
    expect(acked).toMatchObject({ id: sent.body.id, payload: { total: TOTAL_LIMIT }, reported: { rate: 'slow' } })
    expect(p.derived.some((d) => d.twinId === target && d.name === 'commandAcked' && d.data.commandId === sent.body.id)).toBe(true)
    expect(p.derived.some((d) => d.type === 'counter-total' && d.twinId === 'g1' && d.name === 'limitReached')).toBe(true)
    expect(await p.store.get('counter-total', 'nobody')).toBeNull()

    // History answers "why": the command and its ack are in the target's transitions.
    const history = (await record('counter', target)).h!.map((h) => h.e)
    expect(history).toEqual(expect.arrayContaining(['$command:slowDown', 'ack']))
  })

  it('applies feeds once when the relay delivers them again (a crash between relaying and marking)', async () => {
    await publish('devices/counter/b1/attributes', { group: 'g2' })
    for (let seq = 1; seq <= 2; seq++) await publish('devices/counter/b1/inc', { seq })
    await waitFor('2 events at the rule', async () => (await rule('g2'))?.context && ((await rule('g2'))!.context as { events: number }).events === 2)
    const before = (await rule('g2'))!.rev

    // Forget how far the relay got, as a new owner after a crash would: everything is relayed again.
    const shard = shardOf(twinKey('counter', 'b1'), p.shards)
    const feeds = (await p.redis.xrange(p.keys.shard(shard).outbox, '-', '+')).filter(([, f]) => byName(f).n!.startsWith('$feed:')).length
    expect(feeds).toBeGreaterThanOrEqual(5) // attributes, 2 × (change + counted)
    const skipped = p.worker.stats.duplicates
    await p.redis.hdel(p.keys.shard(shard).meta, META.relayed, META.routed)
    p.relay!.resume(shard)
    await waitFor('every feed delivered again and skipped', () => p.worker.stats.duplicates - skipped >= feeds)
    const after = (await rule('g2'))!
    expect((after.context as { events: number }).events).toBe(2)
    expect(after.rev).toBe(before)
  })

  it('shows an unacknowledged command as timed out, and refuses acks it cannot match', async () => {
    await p.ingestor.command('counter', 'c1', { name: 'reboot', payload: { reason: 'test' }, timeoutMs: 300 })
    const sent = await waitFor('the reboot command', () => commands.find((c) => c.topic === 'devices/counter/c1/commands/reboot'))
    expect(sent.body.payload).toEqual({ reason: 'test' })
    const timedOut = await waitFor('the timeout', async () => {
      const c = (await p.store.get('counter', 'c1'))?.commands?.reboot
      return c?.status === 'timedOut' ? c : null
    })
    expect(timedOut.id).toBe(sent.body.id)
    expect(p.derived.find((d) => d.twinId === 'c1' && d.name === 'commandTimedOut')?.data).toMatchObject({ command: 'reboot', commandId: sent.body.id })

    await publish('devices/counter/c1/ack', { id: 'no-such-command' })
    await waitFor('the stray ack dead-lettered', async () => {
      const dead = await p.redis.xrange(p.keys.shard(shardOf(twinKey('counter', 'c1'), p.shards)).dead, '-', '+')
      return dead.some(([, f]) => f.includes('ack') && f.includes('TWIN_ERR_EVENT_NOT_ACCEPTED'))
    })

    // A late ack still counts: the shadow shows what the device did.
    await publish('devices/counter/c1/ack', { id: sent.body.id, ok: false, reason: 'busy' })
    await waitFor('the late rejection', async () => (await p.store.get('counter', 'c1'))?.commands?.reboot?.status === 'rejected')
  })

  it('lets a twin command its own device', async () => {
    await publish('devices/counter/t1/blink', { times: 3 })
    const sent = await waitFor('the blink command', () => commands.find((c) => c.topic === 'devices/counter/t1/commands/blink'))
    expect(sent.body.payload).toEqual({ times: 3 })
    expect((await p.store.get('counter', 't1'))!.commands!.blink).toMatchObject({ id: sent.body.id, status: 'pending', by: 'counter/t1' })
  })

  it('tells the old group when a twin moves to another', async () => {
    await publish('devices/counter/m1/attributes', { group: 'g3' })
    await publish('devices/counter/m1/inc', { seq: 1 })
    await waitFor('m1 in g3', async () => ((await rule('g3'))?.context as { counts: Record<string, number> } | undefined)?.counts.m1 === 1)
    await publish('devices/counter/m1/attributes', { group: 'g4' })
    await waitFor('m1 left g3', async () => !('m1' in ((await rule('g3'))!.context as { counts: Record<string, number> }).counts))
    await waitFor('m1 in g4', async () => ((await rule('g4'))?.context as { counts: Record<string, number> } | undefined)?.counts.m1 === 1)
    expect((await p.store.get('counter', 'm1'))!.attributes).toEqual({ group: 'g4' })
  })
})
