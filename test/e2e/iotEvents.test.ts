import { randomUUID } from 'node:crypto'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { importIotEvents } from '../../src/iot-events/importer.ts'
import { startReceiver } from '../effects/httpReceiver.ts'
import { EngineProcess } from '../support/engineProcess.ts'
import { redisEnv, waitFor } from '../support/env.ts'
import { model, removeDir, tempDir } from '../iot-events/support.ts'

/**
 * AWS IoT Events models on the engine, end to end: imported from
 * ../shared/iot-events/models (a missing folder fails the import), the engine
 * as a real process on free ports and a fresh key prefix of the run's Redis,
 * devices publishing input messages over MQTT with a real client, twins read
 * over HTTP, an iotTopicPublish received by a real MQTT subscriber, an SNS
 * action received by a webhook, and the BatchPutMessage route.
 */

let dir: string
let engine: EngineProcess
let receiver: Awaited<ReturnType<typeof startReceiver>>
const clients: MqttClient[] = []

beforeAll(async () => {
  dir = tempDir('e2e')
  const twins = join(dir, 'twins')
  // Three models: the scene-change model publishes to an MQTT topic; the cranes' TemperatureInput feeds two models.
  importIotEvents({ models: [model('sample-scene-changes.json'), model('cranes-crane.json'), model('cranes-motor.json')], out: twins })
  receiver = await startReceiver(() => 200)
  const webhooks = join(dir, 'webhooks.json')
  writeFileSync(webhooks, JSON.stringify([{ name: 'sns', url: receiver.url, events: ['crane-detector-model.sns'], attempts: 3, backoffMs: 100 }]))
  engine = new EngineProcess({
    ...redisEnv(),
    KEY_PREFIX: `iot${randomUUID().slice(0, 8)}:`,
    SHARDS: '8',
    TWINS_DIR: twins,
    RULES_DIR: join(dir, 'no-rules'),
    WEBHOOKS_FILE: webhooks,
  })
  await engine.start()
}, 60_000)

afterAll(async () => {
  for (const c of clients.splice(0)) c.end(true)
  await engine?.destroy()
  await receiver?.close()
  if (dir) removeDir(dir)
})

async function client(): Promise<MqttClient> {
  const c = await mqtt.connectAsync(engine.mqttUrl, { reconnectPeriod: 0, clientId: `dev-${randomUUID().slice(0, 8)}` })
  c.on('error', () => undefined)
  clients.push(c)
  return c
}

const twin = (type: string, id: string, ready: (t: any) => boolean = () => true) =>
  waitFor(`${type}/${id}`, async () => {
    const t = await engine.get(`/twins/${type}/${id}`)
    return t && ready(t) ? t : null
  }, 15_000)

describe('imported AWS IoT Events models on the engine', () => {
  it('reads the models from ../shared/iot-events/models', () => {
    expect(existsSync(model('sample-scene-changes.json'))).toBe(true)
  })

  it('a device message on the input topic moves the twin named by its key; iotTopicPublish reaches a real MQTT subscriber', async () => {
    const subscriber = await client()
    const published: Array<{ topic: string; payload: string }> = []
    subscriber.on('message', (topic, payload) => published.push({ topic, payload: payload.toString() }))
    await subscriber.subscribeAsync('deviceOutboundTopic', { qos: 1 })

    const device = await client()
    await device.publishAsync('iotevents/inputs/deviceNotifInput', '{"deviceID": "bus 7", "notifType": "StartRoute"}', { qos: 1 })

    // The key "bus 7" names twin bus:207 (the reversible key mapping).
    const bus = await twin('device-model-role', 'bus:207', (t) => t.value === 'Area1')
    expect(bus.context).toMatchObject({ keyValue: 'bus 7', stateName: 'Area1', inputs: { deviceNotifInput: { notifType: 'StartRoute' } } })
    const message = await waitFor('the iotTopicPublish on deviceOutboundTopic', () => published[0])
    expect(message.topic).toBe('deviceOutboundTopic')
    // No payload in the action: AWS's default payload, field for field.
    expect(JSON.parse(message.payload)).toMatchObject({
      eventName: 'StartTransition',
      payload: {
        detector: { detectorModelName: 'DeviceModelRole', keyValue: 'bus 7', detectorModelVersion: '1' },
        eventTriggerDetails: { inputName: 'deviceNotifInput', triggerType: 'Message' },
        state: { stateName: 'Stopped' },
      },
    })
  })

  it('one input feeding two models reaches both; a message without one model\'s key is dead-lettered for that model only', async () => {
    const device = await client()
    await device.publishAsync('iotevents/inputs/TemperatureInput', '{"craneid": "crane-1", "motorid": "motor-1", "temperature": 40}', { qos: 1 })
    await device.publishAsync('iotevents/inputs/TemperatureInput', '{"motorid": "motor-2", "temperature": 20.0}', { qos: 1 })

    const crane = await twin('crane-detector-model', 'crane-1')
    expect(crane.context).toMatchObject({ keyValue: 'crane-1', variables: { craneThresholdBreached: 1 }, inputs: { TemperatureInput: { temperature: 40 } } })
    const motor1 = await twin('motor-detector-model', 'motor-1')
    expect(motor1.context.inputs).toEqual({ TemperatureInput: { temperature: 40 } })
    const motor2 = await twin('motor-detector-model', 'motor-2')
    expect(motor2.context.inputs).toEqual({ TemperatureInput: { temperature: 20 } })
    // 20.0 stays a decimal: the message text reached the twin as sent.
    expect(motor2.context.detector.decimals).toEqual(['/inputs/TemperatureInput/temperature'])

    const dead = await waitFor('the dead letter', async () => {
      const body = await engine.get('/dead-letters?limit=20')
      return body?.deadLetters.find((d: any) => d.code === 'TWIN_ERR_INPUT_KEY_MISSING')
    })
    expect(dead).toMatchObject({ src: 'mqtt', topic: 'iotevents/inputs/TemperatureInput', event: 'TemperatureInput' })
    expect(dead.reason).toContain('detector model craneDetectorModel, input TemperatureInput')
    expect(dead.reason).toContain('craneid')
    expect(JSON.parse(dead.payload)).toEqual({ motorid: 'motor-2', temperature: 20 })
  })

  it('an SNS action is a derived event a webhook receives, with AWS\'s default payload', async () => {
    const device = await client()
    // BATCH: the SNS condition sees the counter before the message's own increment, so the 7th hot reading sends it.
    for (let i = 0; i < 7; i++) await device.publishAsync('iotevents/inputs/TemperatureInput', '{"craneid": "crane-9", "motorid": "motor-9", "temperature": 41}', { qos: 1 })
    const hook = await waitFor('the SNS webhook', () => receiver.delivered().find((r) => r.body.twinId === 'crane-9'), 20_000)
    expect(hook.body).toMatchObject({ type: 'crane-detector-model', name: 'sns', data: { targetArn: 'arn:aws:sns:us-east-1:123456789012:CraneSNSTopic', eventName: 'Crane Threshold Breached', payloadType: 'JSON' } })
    expect(JSON.parse(hook.body.data.payload)).toMatchObject({
      eventName: 'Crane Threshold Breached',
      payload: { detector: { detectorModelName: 'craneDetectorModel', keyValue: 'crane-9' }, state: { stateName: 'Running', variables: { craneThresholdBreached: 7 } } },
    })
  })

  it('POST /inputs/messages takes BatchPutMessage bodies and answers per message as AWS did', async () => {
    const base64 = Buffer.from('{"deviceID": "bus-8", "notifType": "StartRoute"}').toString('base64')
    const res = await fetch(`${engine.httpUrl}/inputs/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        messages: [
          { messageId: 'm1', inputName: 'deviceNotifInput', payload: base64 },
          { messageId: 'm2', inputName: 'deviceNotifInput', payload: '{"deviceID": "bus-8", "notifType": "StopRoute"}' },
          { messageId: 'm3', inputName: 'NoSuchInput', payload: base64 },
          { messageId: 'm4', inputName: 'deviceNotifInput', payload: { notifType: 'StartRoute' } },
        ],
      }),
    })
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body.BatchPutMessageErrorEntries).toEqual([
      { messageId: 'm3', errorCode: 'ResourceNotFoundException', errorMessage: expect.stringMatching(/^TWIN_ERR_INPUT_UNKNOWN: no twin type takes input "NoSuchInput"/) },
      { messageId: 'm4', errorCode: 'InvalidRequestException', errorMessage: expect.stringMatching(/^TWIN_ERR_INPUT_KEY_MISSING: detector model DeviceModelRole, input deviceNotifInput/) },
    ])
    // m1 then m2, in order: started, then stopped again. Each took one pass.
    const bus = await twin('device-model-role', 'bus-8', (t) => t.context.detector.passes === 2)
    expect(bus.value).toBe('Stopped')
    const history = await engine.get('/twins/device-model-role/bus-8/history')
    expect(history.transitions.map((h: any) => h.to).reverse()).toEqual(['Area1', 'Stopped'])
  })

  it('GET /twin-types shows the input topics of an imported model', async () => {
    const type = await engine.get('/twin-types/crane-detector-model')
    expect(type.inputs).toEqual([{ name: 'TemperatureInput', topic: 'iotevents/inputs/TemperatureInput', event: 'TemperatureInput', keyPath: 'craneid', as: 'message' }])
  })
})
