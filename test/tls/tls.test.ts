import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { EngineProcess } from '../support/engineProcess.ts'
import { httpsGet, makePki } from '../support/certs.ts'
import { FIXTURE_TWINS, freePort, waitFor } from '../support/env.ts'
import { startServer, type ServerProcess } from '../support/serverProcess.ts'

/** TLS on every link (issue 15), with certificates made by openssl at test time. */
const pki = makePki()
const device = pki.client('device', 'counter/d1')
const bySan = pki.client('device-san', 'anything', 'twin:counter/d2')
const engineClient = pki.client('engine', 'twin-engine')
afterAll(() => pki.remove())

const engines: EngineProcess[] = []
const servers: ServerProcess[] = []
afterEach(async () => {
  for (const e of engines.splice(0)) await e.destroy()
  for (const s of servers.splice(0)) await s.stop('SIGKILL')
})

const NO_RULES = join(FIXTURE_TWINS, 'none')
const tlsDevice = (port: number, extra: object) => mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, { ca: readFileSync(pki.ca), reconnectPeriod: 0, connectTimeout: 5000, ...extra })

describe('TLS', () => {
  it('embedded broker with mutual TLS: a device publishes with its certificate (CN or URI SAN names it); no certificate, no connection; only its own topics', async () => {
    const tlsPort = await freePort()
    const e = new EngineProcess({
      TWINS_DIR: FIXTURE_TWINS, RULES_DIR: NO_RULES,
      MQTT_TLS_PORT: String(tlsPort), MQTT_TLS_CERT_FILE: pki.serverCert, MQTT_TLS_KEY_FILE: pki.serverKey, MQTT_TLS_CA_FILE: pki.ca, MQTT_TLS_CLIENT_CERTS: 'required',
    })
    engines.push(e)
    await e.start()
    const d1 = await tlsDevice(tlsPort, { clientId: 'counter/d1', cert: readFileSync(device.cert), key: readFileSync(device.key) })
    await d1.publishAsync('devices/counter/d1/inc', JSON.stringify({ seq: 1 }), { qos: 1 })
    const d2 = await tlsDevice(tlsPort, { clientId: 'counter/d2', cert: readFileSync(bySan.cert), key: readFileSync(bySan.key) })
    await d2.publishAsync('devices/counter/d2/inc', JSON.stringify({ seq: 1 }), { qos: 1 })
    expect(await waitFor('d1 applied', () => e.get('/twins/counter/d1'))).toMatchObject({ rev: 1, context: { count: 1 } })
    expect(await waitFor('d2 applied', () => e.get('/twins/counter/d2'))).toMatchObject({ rev: 1 })
    // Its certificate names counter/d1: another device's topic closes the connection, unacknowledged.
    const closed = new Promise<void>((resolve) => d1.once('close', () => resolve()))
    d1.publish('devices/counter/d2/inc', JSON.stringify({ seq: 2 }), { qos: 1 })
    await closed
    d1.end(true)
    d2.end(true)
    // Another device's client id is refused at CONNECT.
    await expect(tlsDevice(tlsPort, { clientId: 'counter/d9', cert: readFileSync(device.cert), key: readFileSync(device.key) })).rejects.toThrow(/[Ii]dentifier rejected/)
    // No certificate: the handshake itself is refused.
    await expect(tlsDevice(tlsPort, { clientId: 'counter/d1' })).rejects.toThrow()
    expect(await e.get('/twins/counter/d1')).toMatchObject({ rev: 1 })
  }, 60_000)

  it('the engine against mosquitto with TLS (client certificate required) and redis-server on its tls-port; the API over HTTPS', async () => {
    const mqttPort = await freePort()
    const conf = join(pki.dir, 'mosquitto.conf')
    writeFileSync(conf, [`listener ${mqttPort} 127.0.0.1`, 'allow_anonymous true', `cafile ${pki.ca}`, `certfile ${pki.serverCert}`, `keyfile ${pki.serverKey}`, 'require_certificate true', ''].join('\n'))
    servers.push(await startServer('mosquitto', ['-c', conf], mqttPort))
    const redisPort = await freePort()
    servers.push(await startServer('redis-server', ['--port', '0', '--tls-port', String(redisPort), '--tls-cert-file', pki.serverCert, '--tls-key-file', pki.serverKey, '--tls-ca-cert-file', pki.ca, '--tls-auth-clients', 'yes', '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'], redisPort))
    const e = new EngineProcess({
      TWINS_DIR: FIXTURE_TWINS, RULES_DIR: NO_RULES,
      MQTT_URL: `mqtts://127.0.0.1:${mqttPort}`, MQTT_CA_FILE: pki.ca, MQTT_CERT_FILE: engineClient.cert, MQTT_KEY_FILE: engineClient.key,
      REDIS_URL: `rediss://127.0.0.1:${redisPort}`, REDIS_CA_FILE: pki.ca, REDIS_CERT_FILE: engineClient.cert, REDIS_KEY_FILE: engineClient.key,
      HTTP_TLS_CERT_FILE: pki.serverCert, HTTP_TLS_KEY_FILE: pki.serverKey,
      NODE_EXTRA_CA_CERTS: pki.ca,
    })
    engines.push(e)
    const ca = readFileSync(pki.ca)
    e.healthCheck = async () => (await httpsGet(`https://127.0.0.1:${e.httpPort}/health`, ca).catch(() => null))?.status === 200
    await e.start()
    const dev = await mqtt.connectAsync(`mqtts://127.0.0.1:${mqttPort}`, { ca: readFileSync(pki.ca), cert: readFileSync(device.cert), key: readFileSync(device.key), clientId: 'dev-tls', reconnectPeriod: 0 })
    await dev.publishAsync('devices/counter/t1/inc', JSON.stringify({ seq: 1 }), { qos: 1 })
    dev.end(true)
    const twin = await waitFor('the twin over HTTPS', async () => {
      const res = await httpsGet(`https://127.0.0.1:${e.httpPort}/twins/counter/t1`, ca)
      return res.status === 200 ? res.body : null
    }, 20_000)
    expect(twin).toMatchObject({ rev: 1, context: { count: 1 } })
    await expect(fetch(`http://127.0.0.1:${e.httpPort}/health`)).rejects.toThrow()
  }, 60_000)
})
