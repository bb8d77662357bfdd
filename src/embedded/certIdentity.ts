import type { PeerCertificate, TLSSocket } from 'node:tls'
import { TYPE_PATTERN } from '../model/ids.ts'
import type { DeviceCredential } from './deviceCredentials.ts'

const ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/
const URI_PREFIX = 'twin:'

/**
 * The device a verified client certificate names (mutual TLS on the embedded
 * broker, MQTT_TLS_CLIENT_CERTS): `{type}/{id}` as the subject CN, or as a
 * URI subject alternative name `twin:{type}/{id}` (the SAN wins when both are
 * there, as RFC 6125 prefers SANs). The device then gets exactly what a
 * password login for `{type}/{id}` gets (deviceCredentials.ts): its own
 * client ids and topics only.
 *
 * Returns undefined when the connection has no verified certificate, null
 * when it has one that names no device.
 */
export function deviceOfCertificate(socket: unknown): DeviceCredential | null | undefined {
  const tls = socket as Partial<TLSSocket> | undefined
  if (!tls || typeof tls.getPeerCertificate !== 'function' || tls.authorized !== true) return undefined
  const cert = tls.getPeerCertificate()
  if (!cert || Object.keys(cert).length === 0) return undefined
  const name = namesIn(cert).map(parse).find((d) => d !== null)
  if (!name) return null
  return { username: `cert:${name.type}/${name.id}`, type: name.type, id: name.id, sha256: Buffer.alloc(0) }
}

function namesIn(cert: PeerCertificate): string[] {
  const sans = (cert.subjectaltname ?? '').split(/,\s*/).filter((s) => s.startsWith('URI:')).map((s) => s.slice(4))
  const uris = sans.filter((u) => u.startsWith(URI_PREFIX)).map((u) => u.slice(URI_PREFIX.length))
  const cn = cert.subject?.CN
  return [...uris, ...(Array.isArray(cn) ? cn : cn ? [cn] : [])]
}

function parse(name: string): { type: string; id: string } | null {
  const [type, id, ...rest] = name.split('/')
  if (rest.length || !type || !id || !TYPE_PATTERN.test(type) || !ID_PATTERN.test(id)) return null
  return { type, id }
}
