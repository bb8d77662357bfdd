import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { loadTwinRegistry, type TwinRegistry } from '../../src/definitions/registry.ts'
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/embedded/broker.ts'
import { importIotEvents } from '../../src/iot-events/importer.ts'
import { shardOf, twinKey } from '../../src/model/ids.ts'
import type { TwinRecord } from '../../src/model/record.ts'
import { META } from '../../src/store/shardMeta.ts'
import { waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'
import { removeDir, tempDir } from '../iot-events/support.ts'

/**
 * Outputs through the real runtime (ADR 0021): a detector's iotEvents action
 * feeds another model's input through the outbox and the relay, exactly once
 * even when the relay sends it again; its iotTopicPublish reaches a real MQTT
 * subscriber on the topic its expression computed.
 */

const readings = {
  detectorModelName: 'siteModel',
  key: 'siteid',
  detectorModelDefinition: {
    initialStateName: 'Watching',
    states: [{
      stateName: 'Watching',
      onInput: {
        events: [{
          eventName: 'Hot',
          condition: '$input.Readings.temp > 50',
          actions: [
            { iotEvents: { inputName: 'Alarms', payload: { type: 'JSON', contentExpression: '\'{"panelid": "${$input.Readings.siteid}", "level": ${$input.Readings.temp}}\'' } } },
            { iotTopicPublish: { mqttTopic: '\'alerts/\' + $input.Readings.siteid', payload: { type: 'STRING', contentExpression: '\'hot: ${$input.Readings.temp}\'' } } },
          ],
        }],
      },
    }],
  },
}

const panel = {
  detectorModelName: 'panelModel',
  key: 'panelid',
  detectorModelDefinition: {
    initialStateName: 'Quiet',
    states: [
      { stateName: 'Quiet', onInput: { transitionEvents: [{ eventName: 'Raise', condition: '$input.Alarms.level > 50', nextState: 'Alarmed' }] } },
      { stateName: 'Alarmed' },
    ],
  },
}

let dir: string
let registry: TwinRegistry
let broker: EmbeddedBroker
let p: Pipeline
let listener: MqttClient

beforeAll(async () => {
  dir = tempDir('outputs')
  writeFileSync(join(dir, 'site.json'), JSON.stringify(readings))
  writeFileSync(join(dir, 'panel.json'), JSON.stringify(panel))
  importIotEvents({ models: [join(dir, 'site.json'), join(dir, 'panel.json')], out: join(dir, 'twins') })
  registry = await loadTwinRegistry(join(dir, 'twins'))
  broker = await startEmbeddedBroker({ port: 0 })
})
afterAll(async () => {
  await broker?.close()
  removeDir(dir)
})
afterEach(async () => {
  await listener?.endAsync(true)
  await p?.stop()
})

const record = async (type: string, id: string): Promise<TwinRecord | null> => {
  const key = twinKey(type, id)
  const raw = await p.redis.hget(p.keys.shard(shardOf(key, p.shards)).twins, key)
  return raw ? (JSON.parse(raw) as TwinRecord) : null
}
const passes = async (id: string) => ((await record('panel-model', id))?.c as { detector: { passes: number } } | undefined)?.detector.passes ?? 0

describe('detector outputs through the relay', () => {
  it('iotEvents feeds the other model\'s twin exactly once, and iotTopicPublish publishes to the computed topic', async () => {
    p = await startPipeline({ registry, mqttUrl: `mqtt://127.0.0.1:${broker.port}` })
    listener = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`)
    const published: string[] = []
    listener.on('message', (topic, payload) => published.push(`${topic} ${payload.toString()}`))
    await listener.subscribeAsync('alerts/#', { qos: 1 })

    await p.ingestor.fromMqtt('iotevents/inputs/Readings', Buffer.from('{"siteid": "site-1", "temp": 70}'))
    const alarmed = await waitFor('the panel alarmed', async () => {
      const r = await record('panel-model', 'site-1')
      return r?.v === 'Alarmed' ? r : null
    })
    expect((alarmed.c as any).inputs).toEqual({ Alarms: { level: 70 } })
    await waitFor('the alert on MQTT', () => published.length === 1)
    expect(published).toEqual(['alerts/site-1 hot: 70'])

    // The relay sends the site's outbox again (as after a crash before its mark moved): the panel skips the feed.
    const shard = shardOf(twinKey('site-model', 'site-1'), p.shards)
    const inbox = p.keys.shard(shardOf(twinKey('panel-model', 'site-1'), p.shards)).inbox
    const before = await p.redis.xlen(inbox)
    await p.redis.hdel(p.keys.shard(shard).meta, META.relayed, META.routed)
    p.relay!.resume(shard)
    await waitFor('the feed sent again', async () => (await p.redis.xlen(inbox)) > before || (await p.redis.hget(p.keys.shard(shard).meta, META.routed)) !== null)
    // A later real message, behind the duplicate in the panel's inbox: once it is applied the duplicate was seen.
    await p.ingestor.fromInput('Alarms', '{"panelid": "site-1", "level": 10}')
    await waitFor('the later message applied', async () => (await passes('site-1')) >= 2)
    expect(await passes('site-1')).toBe(2)
    expect(p.worker.stats.duplicates).toBeGreaterThanOrEqual(1)
  })
})
