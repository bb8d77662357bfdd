import mqtt, { type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { sha256 } from '../../src/api/auth.ts'
import { startEmbeddedBroker, type EmbeddedBroker, type RefusalReason } from '../../src/embedded/broker.ts'
import { parseDeviceCredentials } from '../../src/embedded/deviceCredentials.ts'
import { waitFor } from '../support/env.ts'
import { thrown } from '../support/thrown.ts'

const brokers: EmbeddedBroker[] = []
const clients: MqttClient[] = []
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)))
  await Promise.all(brokers.splice(0).map((b) => b.close()))
})

const INTERNAL = { username: 'twin-engine', password: 'internal-secret-123' }

async function securedBroker() {
  const devices = parseDeviceCredentials(JSON.stringify([
    { username: 'charger/c1', password: 'charger-c1-password' },
    { username: 'gw-7', type: 'elevator', id: 'e7', sha256: sha256('gw-7-password').toString('hex') },
  ]), 'devices.json')
  const ingested: string[] = []
  const refused: RefusalReason[] = []
  const warnings: Array<Record<string, unknown>> = []
  const b = await startEmbeddedBroker({
    port: 0, host: '127.0.0.1',
    intercept: (_c, topic) => { ingested.push(topic); return Promise.resolve() },
    credentials: { devices, internal: INTERNAL },
    onRefused: (reason) => refused.push(reason),
    logger: { info: () => undefined, warn: (obj, msg) => warnings.push({ ...obj, msg }) },
  })
  brokers.push(b)
  return { b, ingested, refused, warnings }
}

function connect(b: EmbeddedBroker, login?: { username: string; password: string }): Promise<MqttClient> {
  const c = mqtt.connect(`mqtt://127.0.0.1:${b.port}`, { protocolVersion: 4, reconnectPeriod: 0, ...login })
  clients.push(c)
  return new Promise((resolve, reject) => {
    c.once('connect', () => resolve(c))
    c.once('error', reject)
  })
}

describe('embedded broker with device credentials', () => {
  it('refuses unknown logins with CONNACK 4 and missing ones with CONNACK 5, with a logged reason', async () => {
    const { b, refused, warnings } = await securedBroker()
    await expect(connect(b, { username: 'charger/c1', password: 'wrong-password' })).rejects.toMatchObject({ code: 4 })
    await expect(connect(b, { username: 'charger/c9', password: 'charger-c1-password' })).rejects.toMatchObject({ code: 4 })
    await expect(connect(b)).rejects.toMatchObject({ code: 5 })
    expect(refused).toEqual(['bad-login', 'bad-login', 'bad-login'])
    expect(warnings[0]).toMatchObject({ code: 'TWIN_ERR_DEVICE_FORBIDDEN', msg: expect.stringContaining('unknown user name or wrong password') })
    expect(JSON.stringify(warnings)).not.toContain('wrong-password')
  })

  it('lets a device publish under its own devices/{type}/{id}/ and closes it when it publishes under another device', async () => {
    const { b, ingested, refused, warnings } = await securedBroker()
    const c1 = await connect(b, { username: 'charger/c1', password: 'charger-c1-password' })
    await c1.publishAsync('devices/charger/c1/plugged', '{}', { qos: 1 })
    const gw = await connect(b, { username: 'gw-7', password: 'gw-7-password' })
    await gw.publishAsync('devices/elevator/e7/heartbeat', '{}', { qos: 1 })
    expect(ingested).toEqual(['devices/charger/c1/plugged', 'devices/elevator/e7/heartbeat'])

    const closed = new Promise<void>((resolve) => c1.once('close', () => resolve()))
    c1.publish('devices/charger/c2/plugged', '{}', { qos: 1 })
    await closed
    expect(ingested).not.toContain('devices/charger/c2/plugged')
    expect(refused).toEqual(['foreign-publish'])
    expect(warnings.find((w) => w.reason === 'foreign-publish')).toMatchObject({
      code: 'TWIN_ERR_DEVICE_FORBIDDEN', reason: 'foreign-publish', username: 'charger/c1',
      msg: 'device charger/c1 may publish only under devices/charger/c1/, not to "devices/charger/c2/plugged"; connection closed',
    })
  })

  it('lets a device subscribe only to its own topics (SUBACK 128 otherwise); the engine login may use any topic', async () => {
    const { b, refused } = await securedBroker()
    const c1 = await connect(b, { username: 'charger/c1', password: 'charger-c1-password' })
    const own = await c1.subscribeAsync('devices/charger/c1/commands/#', { qos: 1 })
    expect(own[0]!.qos).toBe(1)
    // mqtt.js turns a SUBACK of 128 into an error carrying the packet.
    const granted = (filter: string) => c1.subscribeAsync(filter, { qos: 1 }).then(() => 'granted', (err: { packet?: { granted?: number[] } }) => err.packet?.granted)
    expect(await granted('devices/charger/c2/commands/#')).toEqual([128])
    expect(await granted('devices/#')).toEqual([128])
    expect(refused).toEqual(['foreign-subscribe', 'foreign-subscribe'])

    const engine = await connect(b, INTERNAL)
    await engine.subscribeAsync('devices/#', { qos: 1 })
    const got = new Promise<string>((resolve) => engine.once('message', (topic) => resolve(topic)))
    await engine.publishAsync('devices/charger/c1/commands/start', '{}', { qos: 1 })
    await c1.publishAsync('devices/charger/c1/status', '{}', { qos: 1 })
    expect(await got).toBe('devices/charger/c1/commands/start')
    await waitFor('no more refusals', () => refused.length === 2)
  })

  it('refuses a credentials file with a bad entry, naming the entry', () => {
    expect(thrown(() => parseDeviceCredentials('[{"username":"charger","password":"long-enough"}]', 'd.json'))).toMatchObject({ code: 'TWIN_ERR_CONFIG', message: expect.stringContaining('d.json entry 1') })
    expect(thrown(() => parseDeviceCredentials('[{"username":"charger/c1","password":"short"}]', 'd.json')).message).toContain('at least 8')
  })
})
