import { timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { TwinError } from '../errors.ts'
import { TYPE_PATTERN } from '../model/ids.ts'
import { sha256 } from '../secrets.ts'

/**
 * Device logins of the embedded broker (DEVICE_CREDENTIALS_FILE, docs/http.md):
 *
 *   [{ "username": "charger/c1", "password": "…" },
 *    { "username": "gw-7", "type": "charger", "id": "c7", "sha256": "<64 hex>" }]
 *
 * The identity (type/id) is the user name `type/id`, or explicit `type` and
 * `id`. Passwords are given plain or as their SHA-256 (`echo -n PW | sha256sum`):
 * device passwords are meant to be long random secrets, for which a fast hash
 * is enough; only the hash is kept in memory.
 */
export interface DeviceCredential {
  username: string
  type: string
  id: string
  sha256: Buffer
}

export interface BrokerCredentials {
  devices: ReadonlyMap<string, DeviceCredential>
  /** the engine's own clients (relay publisher, demo fleet, cluster workers): any topic */
  internal: { username: string; password: string }
}

const ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/

export function deviceTopicPrefix(device: DeviceCredential): string {
  return `devices/${device.type}/${device.id}/`
}

/**
 * The MQTT client ids a device may connect with: `{type}/{id}`, or that
 * followed by `/` and anything (`charger/c1/ota`, for a second session). The
 * client id names the broker's session (its subscriptions and queued QoS 1
 * commands), so a device using another's id would take that session over
 * (kicking the owner off and receiving its commands). `/` cannot occur in a
 * type or an id, so one device's ids can never be another's; `{type}-{id}`
 * could (`a-b` + `c` and `a` + `b-c`).
 */
export function ownsClientId(device: DeviceCredential, clientId: string): boolean {
  const own = `${device.type}/${device.id}`
  return clientId === own || clientId.startsWith(`${own}/`)
}

/** Constant-time comparison of a presented secret with a stored SHA-256. */
export function matchesSecret(presented: string, hash: Buffer): boolean {
  return timingSafeEqual(sha256(presented), hash)
}

export function parseDeviceCredentials(text: string, file: string): Map<string, DeviceCredential> {
  let list: unknown
  try {
    list = JSON.parse(text)
  } catch (err) {
    throw new TwinError('TWIN_ERR_CONFIG', `DEVICE_CREDENTIALS_FILE ${file} is not JSON: ${(err as Error).message}`)
  }
  if (!Array.isArray(list)) throw new TwinError('TWIN_ERR_CONFIG', `DEVICE_CREDENTIALS_FILE ${file} must hold a JSON array of { username, password or sha256 }`)
  const out = new Map<string, DeviceCredential>()
  list.forEach((item: Record<string, unknown>, i) => {
    const where = `DEVICE_CREDENTIALS_FILE ${file} entry ${i + 1}`
    const fail = (why: string): never => {
      throw new TwinError('TWIN_ERR_CONFIG', `${where}: ${why}`)
    }
    if (!item || typeof item !== 'object') fail('expected an object')
    const username = typeof item.username === 'string' && item.username ? item.username : fail('needs "username"')
    const [type, id] = item.type !== undefined || item.id !== undefined ? [item.type, item.id] : username.split('/')
    if (typeof type !== 'string' || !TYPE_PATTERN.test(type) || typeof id !== 'string' || !ID_PATTERN.test(id)) {
      fail('the device is "username": "type/id", or explicit "type" and "id" (type [a-z][a-z0-9-]*, id [A-Za-z0-9._:-]{1,128})')
    }
    let hash: Buffer
    if (typeof item.password === 'string' && item.password.length >= 8) hash = sha256(item.password)
    else if (typeof item.sha256 === 'string' && /^[0-9a-f]{64}$/i.test(item.sha256)) hash = Buffer.from(item.sha256, 'hex')
    else hash = fail('needs "password" (at least 8 characters) or "sha256" (64 hex digits)')
    if (out.has(username)) fail(`user name "${username}" appears twice`)
    out.set(username, { username, type: type as string, id: id as string, sha256: hash })
  })
  return out
}

export function loadDeviceCredentials(file: string): Map<string, DeviceCredential> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new TwinError('TWIN_ERR_CONFIG', `cannot read DEVICE_CREDENTIALS_FILE ${file}: ${(err as Error).message}`)
  }
  return parseDeviceCredentials(text, file)
}
