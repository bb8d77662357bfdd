import mqtt, { type IClientOptions } from 'mqtt'
import type { Logger } from 'pino'
import { TwinError } from '../errors.ts'

/** CONNACK codes meaning "not this MQTT version": 1 in MQTT 3.1.1, 0x84 (132) in MQTT 5. */
const WRONG_VERSION = new Set([1, 132])
const PROBE_TIMEOUT_MS = 10_000

/**
 * The MQTT version to speak to an external broker. MQTT 5 when asked for and
 * the broker takes it; a broker that speaks only 3.1.1 (NATS's MQTT gateway,
 * older brokers) refuses a version-5 CONNECT with "unacceptable protocol
 * version", and the engine then falls back to 3.1.1 by itself, saying so in
 * one log line (set MQTT_PROTOCOL=4 to skip the attempt). Anything else that
 * stops the connection is one TwinError line, not a stack trace.
 *
 * Probed with a throwaway clean session under a client id of its own, so the
 * engine's persistent sessions are not touched.
 */
export async function negotiateMqttProtocol(url: string, wanted: 4 | 5, options: IClientOptions, log: Logger): Promise<4 | 5> {
  const first = await tryConnect(url, wanted, options)
  if (first === 'ok') return wanted
  if (wanted === 5 && typeof first === 'number' && WRONG_VERSION.has(first)) {
    const second = await tryConnect(url, 4, options)
    if (second === 'ok') {
      log.warn({ broker: redact(url) }, 'the MQTT broker does not speak MQTT 5; using MQTT 3.1.1 (set MQTT_PROTOCOL=4 to say so and skip this attempt)')
      return 4
    }
    throw failure(url, 4, second)
  }
  throw failure(url, wanted, first)
}

function failure(url: string, version: 4 | 5, why: number | string): TwinError {
  if (typeof why === 'number' && WRONG_VERSION.has(why)) {
    return new TwinError('TWIN_ERR_MQTT_PROTOCOL', `the MQTT broker at ${redact(url)} refuses MQTT ${version === 5 ? '5' : '3.1.1'}; set MQTT_PROTOCOL=${version === 5 ? 4 : 5}`)
  }
  const reason = typeof why === 'number' ? `refused the connection (CONNACK code ${why})` : why
  return new TwinError('TWIN_ERR_MQTT_PROTOCOL', `cannot connect to the MQTT broker at ${redact(url)} with MQTT ${version === 5 ? '5' : '3.1.1'}: ${reason}${version === 5 ? ' (a broker that speaks only MQTT 3.1.1 needs MQTT_PROTOCOL=4)' : ''}`)
}

/** 'ok', the CONNACK refusal code, or what went wrong. */
function tryConnect(url: string, protocolVersion: 4 | 5, options: IClientOptions): Promise<'ok' | number | string> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { ...options, protocolVersion, clean: true, reconnectPeriod: 0, connectTimeout: PROBE_TIMEOUT_MS, clientId: `twin-engine-probe-${Math.random().toString(36).slice(2, 10)}` })
    const done = (result: 'ok' | number | string) => {
      client.removeAllListeners()
      client.on('error', () => undefined)
      client.end(true)
      resolve(result)
    }
    client.once('connect', () => done('ok'))
    client.once('error', (err: Error & { code?: number | string }) => done(typeof err.code === 'number' ? err.code : err.message))
    client.once('close', () => done('the broker closed the connection before answering CONNECT'))
  })
}

function redact(url: string): string {
  try {
    const u = new URL(url)
    u.username = ''
    u.password = ''
    return u.toString().replace(/\/$/, '')
  } catch {
    return url.slice(0, 100)
  }
}
