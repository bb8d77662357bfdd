import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import type { TwinDefinition } from '../../src/definitions/defineTwin.ts'
import { iotMessage, keyOfTwinId, twinIdOfKey } from '../../src/iot-events/public.ts'
import { createTwinHarness, type TwinHarness } from '../../src/testing/twinHarness.ts'
import { importTwin, model, removeDir, tempDir } from './support.ts'

const dirs: string[] = []
afterAll(() => dirs.forEach(removeDir))

async function twin(file: string, change?: (doc: any) => void): Promise<TwinDefinition> {
  let source = file
  if (change) {
    const doc = JSON.parse(readFileSync(file, 'utf8'))
    change(doc)
    const dir = tempDir('doc')
    dirs.push(dir)
    source = join(dir, 'model.json')
    writeFileSync(source, JSON.stringify(doc))
  }
  const { definition, dir } = await importTwin({ models: [source] })
  dirs.push(dir)
  return definition
}

/** Derived events with their action fields (targetArn, payload, …). */
const out = (t: TwinHarness) => t.emitted as Array<Record<string, any>>
const payloads = (t: TwinHarness, type = 'sns') => out(t).filter((e) => e.type === type).map((e) => JSON.parse(e.payload as string))

describe('the simple example (motorDetectorModel), BATCH', () => {
  const pressure = (p: number, messageId: string) => iotMessage(`{"motorid": "Fulton-A32", "sensorData": {"pressure": ${p}, "temperature": 39} }`, messageId)

  it('goes Dangerous on the creating message and back to Normal on the 4th calm reading, with the SNS payloads AWS printed', async () => {
    const t = createTwinHarness(await twin(model('motor-pressure-cli.json')), { id: 'Fulton-A32' })
    const t0 = t.clock.now()
    t.send('PressureInput', pressure(80, '00001'))
    expect(t.state).toBe('Dangerous')
    for (const id of ['00002', '00003']) t.send('PressureInput', pressure(60, id))
    expect(t.state).toBe('Dangerous')
    t.advance(109_148)
    t.send('PressureInput', pressure(60, '00004'))
    expect(t.state).toBe('Normal')
    const [breached, restored] = payloads(t)
    expect(breached).toEqual({
      eventTime: t0,
      payload: {
        actionExecutionId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-3[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
        detector: { detectorModelName: 'motorDetectorModel', keyValue: 'Fulton-A32', detectorModelVersion: '1' },
        eventTriggerDetails: { inputName: 'PressureInput', messageId: '00001', triggerType: 'Message' },
        state: { stateName: 'Dangerous', variables: { pressureThresholdBreached: 3 }, timers: {} },
      },
      eventName: 'Pressure Threshold Breached',
    })
    expect(restored).toEqual({
      eventTime: t0 + 109_148,
      payload: {
        actionExecutionId: expect.any(String),
        detector: { detectorModelName: 'motorDetectorModel', keyValue: 'Fulton-A32', detectorModelVersion: '1' },
        eventTriggerDetails: { inputName: 'PressureInput', messageId: '00004', triggerType: 'Message' },
        state: { stateName: 'Dangerous', variables: { pressureThresholdBreached: 0 }, timers: {} },
      },
      eventName: 'Normal Pressure Restored',
    })
    expect(out(t).map((e) => [e.type, e.targetArn])).toEqual([
      ['sns', 'arn:aws:sns:us-east-1:123456789012:underPressureAction'],
      ['sns', 'arn:aws:sns:us-east-1:123456789012:pressureClearedAction'],
    ])
  })

  it('SERIAL on the same model sees the event updates in the transition: back to Normal one message earlier', async () => {
    const t = createTwinHarness(await twin(model('motor-pressure-cli.json'), (doc) => (doc.evaluationMethod = 'SERIAL')), { id: 'Fulton-A32' })
    t.send('PressureInput', pressure(80, '1'))
    t.send('PressureInput', pressure(60, '2'))
    expect(t.state).toBe('Dangerous')
    t.send('PressureInput', pressure(60, '3'))
    expect(t.state).toBe('Normal')
  })

  it('makes the same actionExecutionIds when the same events are replayed', async () => {
    const definition = await twin(model('motor-pressure-cli.json'))
    const ids = () => {
      const t = createTwinHarness(definition, { id: 'Fulton-A32' })
      t.send('PressureInput', pressure(80, '00001'))
      for (const id of ['2', '3', '4']) t.send('PressureInput', pressure(60, id))
      return out(t).map((e) => e.actionExecutionId)
    }
    const first = ids()
    expect(new Set(first).size).toBe(2)
    expect(ids()).toEqual(first)
  })
})

describe('timers', () => {
  const heartbeat = (value = 1) => iotMessage({ value })

  it('a timer expiry runs a pass with triggerType Timer; heartbeats re-arm it (device heartbeat template)', async () => {
    const t = createTwinHarness(await twin(model('blueprint-device-heartbeat.json')), { id: 'detector' })
    const t0 = t.clock.now()
    t.send('AWS_IoTEvents_Blueprints_Heartbeat_Input', heartbeat())
    expect(t.timers).toEqual([{ id: 'timer:awake', due: t0 + 300_000 }])
    t.advance(200_000)
    t.send('AWS_IoTEvents_Blueprints_Heartbeat_Input', heartbeat())
    expect(t.timers).toEqual([{ id: 'timer:awake', due: t0 + 500_000 }])
    t.advance(299_999)
    expect(t.state).toBe('Normal')
    t.advance(1)
    expect(t.state).toBe('Offline')
    const [notice] = payloads(t)
    expect(notice.payload.eventTriggerDetails).toEqual({ timerName: 'awake', triggerType: 'Timer' })
    expect(notice.eventTime).toBe(t0 + 500_000)
    t.send('AWS_IoTEvents_Blueprints_Heartbeat_Input', heartbeat())
    expect(t.state).toBe('Normal')
    expect(t.context.timers.awake).toEqual({ seconds: 300, dueAt: t.clock.now() + 300_000 })
  })

  it('timeout() is a latch: an unread expiry stays set until a pass reads it, then it is spent (A4)', async () => {
    const definition = await twin(model('blueprint-device-heartbeat.json'), (doc) => {
      // The analyzer's rewrite: only a message may take the transition.
      doc.detectorModelDefinition.states[1].onInput.transitionEvents[0].condition = 'triggerType("Message") && timeout("awake")'
    })
    const t = createTwinHarness(definition, { id: 'detector' })
    t.send('AWS_IoTEvents_Blueprints_Heartbeat_Input', heartbeat(0)) // value 0: onEnter sets no timer
    expect(t.timers).toEqual([])
    t.send('AWS_IoTEvents_Blueprints_Heartbeat_Input', heartbeat()) // resetTimer of a timer never set: nothing (A7)
    expect(t.timers).toEqual([])
    const fresh = createTwinHarness(definition, { id: 'detector' })
    fresh.send('AWS_IoTEvents_Blueprints_Heartbeat_Input', heartbeat())
    fresh.advance(300_000)
    expect(fresh.state).toBe('Normal') // the timer pass did not read the latch: triggerType short-circuits
    expect(fresh.context.detector.latched).toEqual(['awake'])
    fresh.send('AWS_IoTEvents_Blueprints_Heartbeat_Input', iotMessage({}, 'no-value')) // reads the latch: true once
    expect(fresh.state).toBe('Offline')
    expect(fresh.context.detector.latched).toEqual([])
  })

  it('a timer re-armed in the timer pass keeps counting (IML pump: a 60 s tick and resetTimer)', async () => {
    const t = createTwinHarness(await twin(model('sample-iml-pump.json')), { id: 'pump-1' })
    t.send('IoTImlPumpData', iotMessage({ TT01: 20, FT01: 100 }))
    expect(t.state).toBe('motor_off')
    t.send('IoTImlPumpData', iotMessage({ TT01: 20, FT01: 100 }))
    expect(t.state).toBe('motor_on')
    t.advance(3 * 60_000)
    expect(t.context.variables.operation_minutes).toBe(3)
    expect(t.timers.map((x) => x.id)).toContain('timer:motorOperationDuration')
  })
})

describe('variables, inputs and types', () => {
  it('remembers the last message of each input (A1): one condition over two inputs (cranes motor)', async () => {
    const t = createTwinHarness(await twin(model('cranes-motor.json')), { id: 'm1' })
    t.send('PressureInput', iotMessage({ motorid: 'm1', pressure: 80 }))
    expect(t.context.variables.motorThresholdBreached).toBe(0)
    t.send('TemperatureInput', iotMessage({ motorid: 'm1', temperature: 35 }))
    expect(t.context.variables.motorThresholdBreached).toBe(1)
    expect(t.context.inputs).toEqual({ PressureInput: { pressure: 80 }, TemperatureInput: { temperature: 35 } })
  })

  it('compares undefined as AWS did (A5): $variable.x != $variable.x initialises the simple alarm once', async () => {
    const t = createTwinHarness(await twin(model('blueprint-simple-alarm.json')), { id: 'alarm-1' })
    t.send('AWS_IoTEvents_Blueprints_Simple_Alarm_Input', iotMessage({ alarmId: 'alarm-1', threshold: 50, value: 10 }))
    expect(t.context.variables).toEqual({ dnd_active: 0, threshold: 50 })
    t.send('AWS_IoTEvents_Blueprints_Simple_Alarm_Input', iotMessage({ alarmId: 'alarm-1', threshold: 90, value: 60 }))
    expect(t.context.variables.threshold).toBe(50)
    expect(t.state).toBe('Alarming')
  })

  it('never coerces: the troubleshooting sample stays in start because "true" is not true', async () => {
    const t = createTwinHarness(await twin(model('sample-troubleshoot-hvac.json')), { id: 'area-1' })
    for (let i = 0; i < 3; i++) t.send('temperatureInput', iotMessage({ areaId: 'area-1', sensorId: i, sensorData: { temperature: 70 } }))
    expect(t.state).toBe('start')
    expect(t.context.variables.resetMe).toBe('true')
  })

  it('keeps decimals from the message text: 20.0 stays a decimal in payloads', async () => {
    const t = createTwinHarness(await twin(model('blueprint-simple-alarm.json')), { id: 'a2' })
    t.send('AWS_IoTEvents_Blueprints_Simple_Alarm_Input', iotMessage('{"threshold": 20.0, "value": 10}'))
    t.send('AWS_IoTEvents_Blueprints_Simple_Alarm_Input', iotMessage('{"value": 25}'))
    expect(t.state).toBe('Alarming')
    expect(payloads(t)[0].payload.state.variables).toEqual({ dnd_active: 0, threshold: 20 })
    expect(out(t)[0]!.payload).toContain('"threshold":20.0')
  })

  it('SERIAL: an event updates a counter the transition reads in the same message (freezer)', async () => {
    const t = createTwinHarness(await twin(model('sample-freezer-serial.transcribed.json')), { id: 'f1' })
    const reading = (temp: number) => iotMessage({ id: 'f1', temp })
    t.send('IoTEventStackInput', reading(35))
    expect(t.state).toBe('Warning')
    t.send('IoTEventStackInput', reading(35))
    expect(t.state).toBe('Warning')
    t.send('IoTEventStackInput', reading(35))
    expect(t.state).toBe('HighTemp')
    expect(out(t).map((e) => [e.type, e.functionArn])).toEqual([['lambda', 'arn:aws:lambda:us-east-1:111111111111:function:IoTEventStackSmsPinpoint']])
  })
})

describe('transitions and actions', () => {
  it('a self-transition re-runs onExit and onEnter (D7)', async () => {
    const definition = await twin(model('motor-pressure-cli.json'), (doc) => {
      const dangerous = doc.detectorModelDefinition.states[1]
      dangerous.onInput.transitionEvents.push({ eventName: 'Again', condition: '$input.PressureInput.sensorData.pressure > 100', nextState: 'Dangerous' })
      dangerous.onEnter.events.push({ eventName: 'count', actions: [{ setVariable: { variableName: 'entered', value: 'isUndefined($variable.entered) && true || $variable.entered + 1' } }] })
    })
    const t = createTwinHarness(definition, { id: 'm' })
    t.send('PressureInput', iotMessage({ sensorData: { pressure: 80 } }))
    t.send('PressureInput', iotMessage({ sensorData: { pressure: 120 } }))
    expect(t.state).toBe('Dangerous')
    // onExit ran ("Normal Pressure Restored") and onEnter ran again ("Pressure Threshold Breached")
    expect(out(t).map((e) => e.eventName)).toEqual(['Pressure Threshold Breached', 'Normal Pressure Restored', 'Pressure Threshold Breached'])
  })

  it('ignores an input the current state does not handle, without refusing it', async () => {
    const t = createTwinHarness(await twin(model('blueprint-sensors-apps.json')), { id: 'detector' })
    t.send('AWS_IoTEvents_Blueprints_Tracking_DeviceInput', iotMessage({ device_id: 'd1', gps_position: 'A' }))
    t.send('AWS_IoTEvents_Blueprints_Tracking_DeviceInput', iotMessage({ device_id: 'd1', gps_position: 'B' }))
    expect(t.state).toBe('Device_in_use')
    t.send('AWS_IoTEvents_Blueprints_Tracking_UserInput', iotMessage({ device_id: 'd2' }))
    expect(t.state).toBe('Device_exception')
    expect(() => t.send('AWS_IoTEvents_Blueprints_Tracking_UserInput', iotMessage({ device_id: 'd3' }))).not.toThrow()
    expect(out(t).map((e) => [e.type, e.mqttTopic])).toEqual([['iotTopicPublish', 'Device_stolen']])
  })

  it('publishes to expression topics with STRING payloads, and reads unset variables with != (LoRaWAN watchdog)', async () => {
    const t = createTwinHarness(await twin(model('sample-lorawan-gateway-watchdog.transcribed.json')), { id: 'gw-1' })
    const status = (s: string) => iotMessage({ gatewayid: 'gw-1', last_connection_status: s, timestamp_iso8601: '2022-10-28T10:00:00Z' })
    t.send('LoRaWANGatewayConnectivityStatusInput', status('Connected'))
    expect(t.state).toBe('Connected')
    expect(out(t)[0]).toMatchObject({ type: 'iotTopicPublish', mqttTopic: 'awsiotcorelorawan/events/presence/connected/gw-1', payload: '{"eventType":"connected","gatewayid":"gw-1"}', payloadType: 'STRING' })
    expect(out(t)[1]).toMatchObject({ type: 'sns', payload: 'RECONNECTED: Gateway gw-1 has established a connection to AWS IoT Core for LoRaWAN' })
    t.send('LoRaWANGatewayConnectivityStatusInput', status('Disconnected'))
    expect(t.context.variables.disconnected_timer_pending).toBe(true)
    t.advance(300_000)
    expect(t.state).toBe('Disconnected')
  })

  it('re-creates the detector on the first message after an update when asked to (AWS UpdateDetectorModel)', async () => {
    const dir = tempDir('reset')
    dirs.push(dir)
    const { importIotEvents } = await import('../../src/iot-events/importer.ts')
    const v1 = importIotEvents({ models: [model('cranes-crane.json')], out: dir, resetOnUpdate: true }).definitions[0]!
    const { default: one } = await import(`${v1.file}?v1`)
    const v2 = importIotEvents({ models: [model('cranes-crane-update.json')], out: dir, resetOnUpdate: true }).definitions[0]!
    expect(v2.version).toBe(2)
    const { default: two } = (await import(`${v2.file}?v2`)) as { default: TwinDefinition }
    const old = createTwinHarness(one, { id: 'c1' })
    for (let i = 0; i < 3; i++) old.send('TemperatureInput', iotMessage({ craneid: 'c1', temperature: 40 }))
    expect(old.context.variables.craneThresholdBreached).toBe(3)
    // The stored twin read by version 2: its first message starts it over.
    const { TwinDriver } = await import('../../src/core/twinDriver.ts')
    const driver = new TwinDriver(two)
    const record = { ...(old as unknown as { twin: { record: any } }).twin.record }
    const next = driver.step({ snapshot: driver.restore(record), record }, { type: 'TemperatureInput', at: old.clock.now(), message: { craneid: 'c1', temperature: 40 } } as never)
    expect((next.record.c as any).variables).toEqual({ craneThresholdBreached: 1, alarmRaised: 'false' })
    expect((next.record.c as any).detector.version).toBe(2)
  })
})

describe('twin ids from detector keys', () => {
  it('maps every key value to a valid twin id and back', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 20, unit: 'grapheme' }), (key) => {
        const length = [...key].reduce((n, ch) => n + (/[A-Za-z0-9._-]/.test(ch) ? 1 : 3 * Buffer.byteLength(ch)), 0)
        if (length > 128) {
          expect(() => twinIdOfKey(key)).toThrow(expect.objectContaining({ code: 'TWIN_ERR_INVALID_ID' }))
          return
        }
        const id = twinIdOfKey(key)
        expect(id).toMatch(/^[A-Za-z0-9._:-]{1,128}$/)
        expect(keyOfTwinId(id)).toBe(key)
      }),
    )
    expect(twinIdOfKey('Fulton A32')).toBe('Fulton:20A32')
    expect(() => twinIdOfKey('x'.repeat(129))).toThrow(expect.objectContaining({ code: 'TWIN_ERR_INVALID_ID' }))
  })
})
