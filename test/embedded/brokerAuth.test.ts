import mqtt, { type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { startEmbeddedBroker, type EmbeddedBroker, type RefusalReason } from '../../src/embedded/broker.ts'
import { parseDeviceCredentials } from '../../src/embedded/deviceCredentials.ts'
import { parseTopicTemplate } from '../../src/model/topics.ts'
import { sha256 } from '../../src/secrets.ts'
import { waitFor } from '../support/env.ts'
import { thrown } from '../support/thrown.ts'

const brokers: EmbeddedBroker[] = []
const clients: MqttClient[] = []
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)))
  await Promise.all(brokers.splice(0).map((b) => b.close()))
})

const INTERNAL = { username: 'twin-engine', password: 'internal-secret-123' }
const C1 = { username: 'charger/c1', password: 'charger-c1-password', clientId: 'charger/c1' }
const C2 = { username: 'charger/c2', password: 'charger-c2-password', clientId: 'charger/c2' }
const GW7 = { username: 'gw-7', password: 'gw-7-password', clientId: 'elevator/e7' }
/** elevator's own topic template, as a twin definition may declare it */
const LIFT_TEMPLATE = parseTopicTemplate('site/{id}/lift/{event}', 'elevator')

async function securedBroker() {
  const devices = parseDeviceCredentials(JSON.stringify([
    { username: 'charger/c1', password: 'charger-c1-password' },
    { username: 'charger/c2', password: 'charger-c2-password' },
    { username: 'gw-7', type: 'elevator', id: 'e7', sha256: sha256('gw-7-password').toString('hex') },
  ]), 'devices.json')
  const ingested: string[] = []
  const refused: RefusalReason[] = []
  const warnings: Array<Record<string, unknown>> = []
  const b = await startEmbeddedBroker({
    port: 0, host: '127.0.0.1',
    intercept: (_c, topic) => { ingested.push(topic); return Promise.resolve() },
    credentials: { devices, internal: INTERNAL },
    deviceOfTopic: (topic) => LIFT_TEMPLATE.match(topic.split('/')),
    onRefused: (reason) => refused.push(reason),
    logger: { info: () => undefined, warn: (obj, msg) => warnings.push({ ...obj, msg }) },
  })
  brokers.push(b)
  return { b, ingested, refused, warnings }
}

/** `login` may carry the client id (and `clean`); without one mqtt.js makes up `mqttjs_…`. */
function connect(b: EmbeddedBroker, login?: { username: string; password: string; clientId?: string; clean?: boolean }): Promise<MqttClient> {
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
    await expect(connect(b, { ...C1, password: 'wrong-password' })).rejects.toMatchObject({ code: 4 })
    await expect(connect(b, { ...C1, username: 'charger/c9' })).rejects.toMatchObject({ code: 4 })
    await expect(connect(b)).rejects.toMatchObject({ code: 5 })
    expect(refused).toEqual(['bad-login', 'bad-login', 'bad-login'])
    expect(warnings[0]).toMatchObject({ code: 'TWIN_ERR_DEVICE_FORBIDDEN', msg: expect.stringContaining('unknown user name or wrong password') })
    expect(JSON.stringify(warnings)).not.toContain('wrong-password')
  })

  it('lets a device publish under its own devices/{type}/{id}/ and closes it when it publishes under another device', async () => {
    const { b, ingested, refused, warnings } = await securedBroker()
    const c1 = await connect(b, C1)
    await c1.publishAsync('devices/charger/c1/plugged', '{}', { qos: 1 })
    const gw = await connect(b, GW7)
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
    const c1 = await connect(b, C1)
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

  it('a logged-in device gets its commands and publishes its ack and attributes; another device cannot subscribe to them', async () => {
    const { b, ingested, refused } = await securedBroker()
    const c1 = await connect(b, C1)
    const c2 = await connect(b, C2)
    await c1.subscribeAsync('devices/charger/c1/commands/#', { qos: 1 })
    const stolen = await c2.subscribeAsync('devices/charger/c1/commands/#', { qos: 1 }).then(() => 'granted', (err: { packet?: { granted?: number[] } }) => err.packet?.granted)
    expect(stolen).toEqual([128])
    const c2Got: string[] = []
    c2.on('message', (topic) => c2Got.push(topic))

    // The engine's relay publishes the command with its internal login.
    const got = new Promise<[string, string]>((resolve) => c1.once('message', (topic, payload) => resolve([topic, payload.toString()])))
    const engine = await connect(b, INTERNAL)
    await engine.publishAsync('devices/charger/c1/commands/x', '{"id":"k1"}', { qos: 1 })
    expect(await got).toEqual(['devices/charger/c1/commands/x', '{"id":"k1"}'])

    await c1.publishAsync('devices/charger/c1/ack', '{"id":"k1","ok":true}', { qos: 1 })
    await c1.publishAsync('devices/charger/c1/attributes', '{"site":"s1"}', { qos: 1 })
    expect(ingested).toEqual(expect.arrayContaining(['devices/charger/c1/ack', 'devices/charger/c1/attributes']))
    expect(c1.connected).toBe(true)
    // The round trip above passed through the broker after the command: c2 got nothing.
    await c2.publishAsync('devices/charger/c2/status', '{}', { qos: 1 })
    expect(c2Got).toEqual([])
    expect(refused).toEqual(['foreign-subscribe'])
  })

  it("refuses a device that connects with another device's client id (CONNACK 2): it can neither kick the owner off nor take its queued commands", async () => {
    const { b, refused, warnings } = await securedBroker()
    // c1 keeps a persistent session with its command subscription, then goes offline.
    const c1 = await connect(b, { ...C1, clean: false })
    await c1.subscribeAsync('devices/charger/c1/commands/#', { qos: 1 })
    await c1.endAsync()
    const engine = await connect(b, INTERNAL)
    await engine.publishAsync('devices/charger/c1/commands/unlock', '{"id":"q1"}', { qos: 1 })

    // c2, with valid credentials of its own, asks for c1's session.
    await expect(connect(b, { ...C2, clientId: 'charger/c1', clean: false })).rejects.toMatchObject({ code: 2 })
    // Ids that merely start like c1's are not c1's either.
    await expect(connect(b, { ...C1, clientId: 'charger/c10' })).rejects.toMatchObject({ code: 2 })
    await expect(connect(b, { ...C1, clientId: 'mqttjs_1234' })).rejects.toMatchObject({ code: 2 })
    expect(refused).toEqual(['foreign-client-id', 'foreign-client-id', 'foreign-client-id'])
    expect(warnings[0]).toMatchObject({ code: 'TWIN_ERR_DEVICE_FORBIDDEN', reason: 'foreign-client-id', username: 'charger/c2', clientId: 'charger/c1',
      msg: 'device charger/c2 must connect with client id "charger/c2" (or "charger/c2/<anything>"), not "charger/c1"' })

    // The owner comes back to its session and gets the queued command.
    const back = mqtt.connect(`mqtt://127.0.0.1:${b.port}`, { protocolVersion: 4, reconnectPeriod: 0, ...C1, clean: false })
    clients.push(back)
    const queued = new Promise<string>((resolve) => back.once('message', (topic) => resolve(topic)))
    expect(await queued).toBe('devices/charger/c1/commands/unlock')

    // While it is connected, another device with its id still cannot kick it off.
    await expect(connect(b, { ...C2, clientId: 'charger/c1' })).rejects.toMatchObject({ code: 2 })
    expect(back.connected).toBe(true)
    // A second session of its own: "{type}/{id}/<anything>".
    const second = await connect(b, { ...C1, clientId: 'charger/c1/diagnostics' })
    await second.publishAsync('devices/charger/c1/status', '{}', { qos: 1 })
    expect(back.connected).toBe(true)
  })

  it("lets a device publish on its type's own topic template with its own id, and closes it on another device's", async () => {
    const { b, ingested, refused } = await securedBroker()
    const gw = await connect(b, GW7)
    await gw.publishAsync('site/e7/lift/moving', '{}', { qos: 1 })
    expect(ingested).toEqual(['site/e7/lift/moving'])

    // c1 is a charger: the elevator template with id c1 is not its own.
    const c1 = await connect(b, C1)
    const c1Closed = new Promise<void>((resolve) => c1.once('close', () => resolve()))
    c1.publish('site/c1/lift/moving', '{}', { qos: 1 })
    await c1Closed

    const closed = new Promise<void>((resolve) => gw.once('close', () => resolve()))
    gw.publish('site/e8/lift/moving', '{}', { qos: 1 })
    await closed
    expect(ingested).toEqual(['site/e7/lift/moving'])
    expect(refused).toEqual(['foreign-publish', 'foreign-publish'])
  })

  it('refuses a credentials file with a bad entry, naming the entry', () => {
    expect(thrown(() => parseDeviceCredentials('[{"username":"charger","password":"long-enough"}]', 'd.json'))).toMatchObject({ code: 'TWIN_ERR_CONFIG', message: expect.stringContaining('d.json entry 1') })
    expect(thrown(() => parseDeviceCredentials('[{"username":"charger/c1","password":"short"}]', 'd.json')).message).toContain('at least 8')
  })
})
