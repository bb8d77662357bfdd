import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.ts'
import { startEngine, type Engine } from '../../src/roles/engine.ts'
import { connectRedis } from '../../src/store/redis.ts'
import { dropPrefix, redisEnv, ROOT, silentLog, waitFor } from '../support/env.ts'

/**
 * The shipped rules end to end, in one engine with its embedded broker:
 * MQTT from devices -> twins -> rule actors -> derived events on MQTT and
 * commands to a real MQTT client acting as the device, whose ack shows on
 * the twin. The fixtures in test/fixtures/fast are the shipped twins and
 * rules with watchdogs of seconds instead of minutes, so this runs in real time.
 */
const FAST = join(ROOT, 'test/fixtures/fast')

interface Received {
  topic: string
  body: any
}

let engine: Engine
let prefix: string
let device: MqttClient
const received: Received[] = []

beforeEach(async () => {
  prefix = `t${randomUUID().slice(0, 8)}:`
  const config = loadConfig({
    ...redisEnv(), KEY_PREFIX: prefix, MQTT_PORT: '0', HTTP_PORT: '0', DEMO: 'false', SHARDS: '8', AUTH: 'open',
    TWINS_DIR: join(FAST, 'twins'), RULES_DIR: join(FAST, 'rules'),
  })
  engine = await startEngine(config, { log: silentLog })
  received.length = 0
  device = await mqtt.connectAsync(engine.mqttUrl)
  device.on('message', (topic, payload) => received.push({ topic, body: JSON.parse(payload.toString()) }))
  await device.subscribeAsync(['devices/+/+/commands/#', 'twins/#'], { qos: 1 })
})

afterEach(async () => {
  await device.endAsync(true)
  await engine.stop()
  const redis = connectRedis(redisEnv().REDIS_URL!, 'cleanup', redisEnv().REDIS_CLUSTER === 'true')
  await dropPrefix(redis, prefix)
  await redis.quit()
})

const publish = (type: string, id: string, event: string, payload: object = {}) =>
  device.publishAsync(`devices/${type}/${id}/${event}`, JSON.stringify(payload), { qos: 1 })
const twin = async (type: string, id: string) => {
  const res = await fetch(`${engine.httpUrl}/twins/${type}/${id}`)
  return res.ok ? ((await res.json()) as Record<string, any>) : null
}
const derived = (topic: string) => waitFor(topic, () => received.find((r) => r.topic === topic), 15_000)

describe('shipped rules, end to end', () => {
  it('site-charging-load caps the chargers of a site over its grid limit, and their acks show on the twins', async () => {
    await publish('meter', 'grid-s1', 'attributes', { site: 's1', role: 'grid' })
    await publish('meter', 'grid-s1', 'contract', { limitW: 20_000 })
    for (const id of ['c1', 'c2']) {
      await publish('charger', id, 'attributes', { site: 's1' })
      await publish('charger', id, 'statusNotification', { status: 'Charging' })
      await publish('charger', id, 'meterValues', { energyWh: 1000, powerW: 7000 })
    }
    // The site draws 25 kW against a 20 kW contract: 11 kW of it is the rest of the building.
    await publish('meter', 'grid-s1', 'reading', { energyKwh: 10, powerW: 25_000 })

    const limited = await derived('twins/site-charging-load/s1/events/loadLimited')
    expect(limited.body.data).toMatchObject({ site: 's1', limitW: 20_000 })
    const commands = await waitFor('both chargers commanded', () => {
      const c = received.filter((r) => /^devices\/charger\/c[12]\/commands\/setMaxPower$/.test(r.topic))
      return c.length === 2 ? c : null
    })
    const maxPowerW = commands[0]!.body.payload.maxPowerW as number
    expect(maxPowerW).toBeGreaterThan(0)
    expect(maxPowerW).toBeLessThan(7000)
    expect(commands[1]!.body.payload.maxPowerW).toBe(maxPowerW)

    // Each charger's twin shows the command pending: the desired state.
    const c1 = await waitFor('pending on c1', async () => (await twin('charger', 'c1'))?.commands?.setMaxPower)
    expect(c1).toMatchObject({ status: 'pending', by: 'site-charging-load/s1', payload: { maxPowerW } })

    // The devices acknowledge: reported next to desired, like a device shadow.
    for (const c of commands) {
      const id = c.topic.split('/')[2]!
      await publish('charger', id, 'ack', { id: c.body.id, reported: { maxPowerW } })
    }
    for (const id of ['c1', 'c2']) {
      const shadow = await waitFor(`ack on ${id}`, async () => {
        const s = (await twin('charger', id))?.commands?.setMaxPower
        return s?.status === 'acked' ? s : null
      })
      expect(shadow).toMatchObject({ payload: { maxPowerW }, reported: { maxPowerW } })
    }
    expect((await derived('twins/charger/c1/events/commandAcked')).body.data).toMatchObject({ command: 'setMaxPower' })
  })

  it('building-elevator-availability raises buildingWithoutElevator when no elevator of a building is in service, and clears it', async () => {
    for (const id of ['e1', 'e2']) {
      await publish('elevator', id, 'attributes', { building: 'b1' })
      await publish('elevator', id, 'heartbeat')
    }
    await waitFor('both elevators tracked', async () => Object.keys((await twin('building-elevator-availability', 'b1'))?.context.elevators ?? {}).length === 2)
    await publish('elevator', 'e1', 'fault', { code: 'DOOR' })
    await publish('elevator', 'e2', 'serviceMode', { on: true })
    const alarm = await derived('twins/building-elevator-availability/b1/events/buildingWithoutElevator')
    expect(Object.keys(alarm.body.data.elevators).sort()).toEqual(['e1', 'e2'])

    await publish('elevator', 'e1', 'faultCleared')
    const restored = await derived('twins/building-elevator-availability/b1/events/elevatorServiceRestored')
    expect(restored.body.data).toMatchObject({ building: 'b1', elevatorId: 'e1' })
  })

  it('meter-area-outage suspects an outage when over 30 % of an area\'s meters go dark, and clears it when they return', async () => {
    const meters = ['m1', 'm2', 'm3', 'm4', 'm5']
    for (const id of meters) {
      await publish('meter', id, 'attributes', { area: 'a1' })
      await publish('meter', id, 'reading', { energyKwh: 1, powerW: 500 })
    }
    await waitFor('five meters in the area', async () => (await twin('meter-area-outage', 'a1'))?.context.meters.length === 5)
    // m1 and m2 go dark (their 1.5 s watchdogs fire); the others keep reading.
    const alive = setInterval(() => {
      for (const id of ['m3', 'm4', 'm5']) void publish('meter', id, 'reading', { energyKwh: 1, powerW: 500 })
    }, 400)
    try {
      const outage = await derived('twins/meter-area-outage/a1/events/suspectedOutage')
      expect(outage.body.data).toMatchObject({ area: 'a1', offline: 2, total: 5 })
      expect([...outage.body.data.meters].sort()).toEqual(['m1', 'm2'])
      await publish('meter', 'm1', 'reading', { energyKwh: 1.1, powerW: 400 })
      const cleared = await derived('twins/meter-area-outage/a1/events/suspectedOutageCleared')
      expect(cleared.body.data).toMatchObject({ area: 'a1', offline: 1, total: 5 })
    } finally {
      clearInterval(alive)
    }
  })
})
