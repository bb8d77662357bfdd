import { createServer, type Server } from 'node:net'
import { createServer as createTlsServer } from 'node:tls'
import { Aedes, type AedesOptions, type Client, type PublishPacket, type Subscription } from 'aedes'
import { TwinError } from '../errors.ts'
import { deviceOfCertificate } from './certIdentity.ts'
import { deviceTopicPrefix, matchesSecret, ownsClientId, type BrokerCredentials, type DeviceCredential } from './deviceCredentials.ts'
import { sha256 } from '../secrets.ts'

/**
 * Sees every PUBLISH a client sends before the broker acknowledges it. Return
 * a promise to hold the PUBACK until it settles (rejecting refuses the
 * message: no PUBACK, the connection is closed and the device retries); return
 * undefined to let the message through at once.
 */
export interface PublishInterceptor {
  /** `gone` aborts when the client's connection closes (its PUBACK can no longer be sent) */
  (client: { id: string } | null, topic: string, payload: Buffer, gone?: AbortSignal): Promise<void> | undefined
}

export interface EmbeddedBroker {
  readonly port: number
  /** the TLS listener's port, when there is one */
  readonly tlsPort?: number
  readonly aedes: Aedes
  close(): Promise<void>
}

export interface EmbeddedBrokerOptions {
  /** 0: a free port. */
  port: number
  host?: string
  intercept?: PublishInterceptor
  /** Not enforced here: the engine dead-letters oversize payloads itself (see below). */
  maxPayloadBytes?: number
  logger?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void }
  /**
   * Device logins (DEVICE_CREDENTIALS_FILE). When set, every client must log
   * in: a device must use a client id of its own (ownsClientId), may publish
   * only under its own `devices/{type}/{id}/` (or to a topic `deviceOfTopic`
   * gives as its own) and subscribe only below it; the engine's own clients
   * use `internal`.
   */
  credentials?: BrokerCredentials
  /**
   * The twin a topic outside `devices/` belongs to, by the twin types' own
   * topic templates (`site/{id}/lift/{event}`); null when none matches. Lets a
   * logged-in device publish on its type's template.
   */
  deviceOfTopic?: (topic: string) => { type?: string; id: string } | null
  /**
   * A second listener with TLS (MQTT_TLS_PORT). `clientCerts`: `required`
   * refuses a connection without a certificate from `ca` at the handshake
   * (mutual TLS); `optional` asks for one. A verified certificate logs its
   * device in (certIdentity.ts) without a password.
   */
  tls?: { port: number; cert: Buffer; key: Buffer; ca?: Buffer; clientCerts: 'off' | 'optional' | 'required' }
  /** something was refused (reason: bad-login, foreign-client-id, foreign-publish, foreign-subscribe); already logged */
  onRefused?: (reason: RefusalReason) => void
}

export type RefusalReason = 'bad-login' | 'foreign-client-id' | 'foreign-publish' | 'foreign-subscribe'

/** Who a connected client is: a device (its topic prefix) or the engine itself. */
type Identity = { device: DeviceCredential; prefix: string } | { internal: true }

type Done = (error?: Error | null) => void

const SYS_PREFIX = '$SYS/'

/**
 * Starts aedes (MQTT 3.1.1) on a plain TCP server.
 *
 * Packet size: aedes 1.2 has no max-packet-size option and creates its
 * mqtt-packet parser without limits (lib/client.js), so any PUBLISH up to
 * MQTT's 256 MB ceiling reaches `intercept`. That is what the engine wants
 * for payload size (an oversize payload is dead-lettered with
 * TWIN_ERR_PAYLOAD_TOO_LARGE instead of vanishing in a silent disconnect), but
 * it also means one client can make the broker buffer a huge packet: put a
 * proxy with a frame limit in front if the port is exposed beyond the host.
 */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const { intercept, logger, credentials } = options
  const handlers: Partial<AedesOptions> = {}
  const identities = new WeakMap<Client, Identity>()
  const refuse = (reason: RefusalReason, fields: object, message: string) => {
    logger?.warn({ code: 'TWIN_ERR_DEVICE_FORBIDDEN', reason, ...fields }, message)
    options.onRefused?.(reason)
  }
  const isOwnTemplateTopic = (device: DeviceCredential, topic: string): boolean => {
    const twin = topic.length <= 512 ? options.deviceOfTopic?.(topic) : null
    return !!twin && twin.type === device.type && twin.id === device.id
  }
  let guard: PublishGuard | undefined
  if (credentials || (options.tls && options.tls.clientCerts !== 'off')) {
    Object.assign(handlers, deviceAuthHandlers(credentials, identities, refuse))
    guard = (client, topic) => {
      const who = identities.get(client)
      if (!who || 'internal' in who || topic.startsWith(who.prefix) || isOwnTemplateTopic(who.device, topic)) return null
      const message = `device ${who.device.username} may publish only under ${who.prefix}, not to "${topic.slice(0, 120)}"; connection closed`
      refuse('foreign-publish', { clientId: client.id, username: who.device.username, topic: topic.slice(0, 120) }, message)
      return new TwinError('TWIN_ERR_DEVICE_FORBIDDEN', message)
    }
  }
  // One signal per connection, aborted when it closes (see PublishInterceptor).
  const connections = new WeakMap<Client, AbortController>()
  const goneOf = (client: Client) => {
    let c = connections.get(client)
    if (!c) connections.set(client, (c = new AbortController()))
    return c.signal
  }
  if (intercept || guard) handlers.authorizePublish = authorizeWith(intercept ?? (() => undefined), guard, goneOf)
  const aedes = await Aedes.createBroker(handlers)
  aedes.on('clientDisconnect', (client) => connections.get(client)?.abort())

  // aedes reports a refused publish or a broken socket as clientError and
  // closes the connection; without a log line a device retrying forever is a mystery.
  aedes.on('clientError', (client, err) => logger?.warn({ clientId: client?.id, err: err.message }, 'mqtt client error; connection closed'))
  aedes.on('connectionError', (_client, err) => logger?.warn({ err: err.message }, 'mqtt connection error before CONNECT completed'))

  const server: Server = createServer(aedes.handle)
  try {
    await new Promise<void>((done, fail) => {
      server.once('error', fail)
      server.listen(options.port, options.host ?? '0.0.0.0', () => {
        server.off('error', fail)
        done()
      })
    })
  } catch (err) {
    await new Promise<void>((done) => aedes.close(() => done()))
    throw err
  }
  const port = (server.address() as { port: number }).port
  logger?.info({ port, host: options.host ?? '0.0.0.0' }, 'embedded MQTT broker listening')
  let tlsServer: Server | undefined
  if (options.tls) {
    const t = options.tls
    tlsServer = createTlsServer({ cert: t.cert, key: t.key, ca: t.ca, requestCert: t.clientCerts !== 'off', rejectUnauthorized: t.clientCerts === 'required' }, aedes.handle)
    // A refused handshake (no or an untrusted certificate) never reaches aedes: log it here.
    tlsServer.on('tlsClientError', (err) => logger?.warn({ code: 'TWIN_ERR_DEVICE_FORBIDDEN', reason: 'tls', err: err.message }, 'MQTT TLS handshake refused'))
    try {
      await listen(tlsServer, t.port, options.host ?? '0.0.0.0')
    } catch (err) {
      await new Promise<void>((done) => aedes.close(() => done()))
      await new Promise<void>((done) => server.close(() => done()))
      throw err
    }
    logger?.info({ port: (tlsServer.address() as { port: number }).port, clientCerts: t.clientCerts }, 'embedded MQTT broker listening with TLS')
  }

  let closing: Promise<void> | undefined
  return {
    port,
    tlsPort: tlsServer ? (tlsServer.address() as { port: number }).port : undefined,
    aedes,
    close: () => (closing ??= (async () => {
      // aedes first: it destroys client sockets, which server.close() would
      // otherwise wait on forever.
      await new Promise<void>((done) => aedes.close(() => done()))
      await new Promise<void>((done) => server.close(() => done()))
      if (tlsServer) await new Promise<void>((done) => tlsServer.close(() => done()))
    })()),
  }
}

/**
 * aedes calls authorizePublish before it writes the PUBACK
 * (lib/handlers/publish.js: authorizePublish, then enqueuePublish), so
 * holding the callback holds the PUBACK.
 *
 * Order: aedes hands every packet of one socket read to its handler at once
 * (lib/client.js `enqueue`), so callbacks for one connection can be pending
 * together and would release PUBACKs in whatever order the intercepts settle.
 * MQTT 3.1.1 section 4.6 requires PUBACKs in the order the PUBLISHes arrived,
 * and the engine relies on it, so callbacks are released in arrival order
 * through a per-client chain. `intercept` itself is still called at arrival,
 * in order, so the engine can pipeline its Redis writes.
 *
 * Flow control comes with it (issue 15): aedes reads a connection's next
 * chunk only once every packet of the current one is handled
 * (lib/client.js `nextBatch`), and a publish is handled when its callback
 * runs. While PUBACKs are held (Redis away, inbox full) a connection is not
 * read past one socket read's worth of packets; the device's TCP window
 * fills and it waits, nothing refused, memory bounded per connection
 * (test/embedded/brokerFlowControl.test.ts).
 */
function authorizeWith(intercept: PublishInterceptor, guard?: PublishGuard, goneOf?: (client: Client) => AbortSignal) {
  const tails = new WeakMap<Client, Promise<boolean>>()
  return (client: Client | null, packet: PublishPacket, callback: Done): void => {
    // Replacing aedes' default authorizePublish drops its $SYS guard; keep it
    // (moscajs/aedes#597: clients publishing to $SYS can disrupt the broker).
    if (packet.topic.startsWith(SYS_PREFIX)) {
      callback(new Error(`${SYS_PREFIX} topic is reserved`))
      return
    }
    let pending: Promise<void> | undefined
    // A refused publish is neither ingested nor delivered; it goes through the
    // per-client chain like any other so earlier PUBACKs keep their order.
    const refused = client && guard ? guard(client, packet.topic) : null
    try {
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
      pending = refused ? Promise.reject(refused) : intercept(client ? { id: client.id } : null, packet.topic, payload, client && goneOf ? goneOf(client) : undefined)
    } catch (err) {
      pending = Promise.reject(err)
    }
    // A will published for a client that is gone (client null) has no order to keep.
    if (!client) {
      if (!pending) callback(null)
      else pending.then(() => callback(null), (err: unknown) => callback(asError(err)))
      return
    }
    const previous = tails.get(client)
    if (!pending && !previous) {
      callback(null)
      return
    }
    const mine = (pending ?? Promise.resolve()).then(() => null, asError)
    // true while every publish so far on this connection was accepted.
    const tail = (async (): Promise<boolean> => {
      const earlierOk = previous ? await previous : true
      const err = await mine
      // After a refusal aedes is closing the connection; acknowledging a later
      // message would let the device resend the refused one after it.
      if (!earlierOk) callback(new Error('an earlier publish on this connection was refused'))
      else callback(err)
      return earlierOk && err === null
    })()
    tails.set(client, tail)
    // Drop the chain once it is idle so a finished connection holds nothing.
    void tail.then(() => { if (tails.get(client) === tail) tails.delete(client) })
  }
}

/** null when `client` may publish to `topic`, else the (already logged) refusal. */
type PublishGuard = (client: Client, topic: string) => Error | null

/**
 * aedes `authenticate` and `authorizeSubscribe` for device logins. Unknown
 * user names and wrong passwords get CONNACK 4 (bad user name or password), a
 * CONNECT without credentials CONNACK 5 (not authorized), a device using a
 * client id that is not its own CONNACK 2 (identifier rejected). A subscription
 * outside the device's own prefix is refused in the SUBACK (128).
 */
function deviceAuthHandlers(
  credentials: BrokerCredentials | undefined,
  identities: WeakMap<Client, Identity>,
  refuse: (reason: RefusalReason, fields: object, message: string) => void,
): Pick<AedesOptions, 'authenticate' | 'authorizeSubscribe'> {
  const internalName = credentials && sha256(credentials.internal.username)
  const internalSecret = credentials && sha256(credentials.internal.password)
  const loginError = (returnCode: 2 | 4 | 5, message: string) => Object.assign(new Error(message), { returnCode })
  const admit = (client: Client, device: DeviceCredential, done: (err: never, ok: boolean) => void): void => {
    // Checked before aedes registers the client, which is when it would
    // take over (close) a connected client with the same id.
    if (!ownsClientId(device, client.id)) {
      const own = `${device.type}/${device.id}`
      refuse('foreign-client-id', { clientId: client.id.slice(0, 128), username: device.username },
        `device ${device.username} must connect with client id "${own}" (or "${own}/<anything>"), not "${client.id.slice(0, 128)}"`)
      done(loginError(2, 'identifier rejected') as never, false)
      return
    }
    identities.set(client, { device, prefix: deviceTopicPrefix(device) })
    done(null as never, true)
  }
  return {
    authenticate: (client, username, password, done) => {
      // A verified client certificate (TLS listener) is the device's login.
      const byCert = deviceOfCertificate((client as unknown as { conn?: unknown }).conn)
      if (byCert === null) {
        refuse('bad-login', { clientId: client.id }, 'MQTT client certificate names no device: put {type}/{id} in its CN or a URI SAN twin:{type}/{id}')
        done(loginError(5, 'certificate names no device') as never, false)
        return
      }
      if (byCert) return admit(client, byCert, done)
      // Without device logins, clients without a certificate connect as before: unrestricted.
      if (!credentials) {
        identities.set(client, { internal: true })
        done(null, true)
        return
      }
      const secret = password === undefined ? undefined : Buffer.isBuffer(password) ? password.toString('utf8') : String(password)
      if (typeof username !== 'string' || secret === undefined) {
        refuse('bad-login', { clientId: client.id }, 'MQTT CONNECT without user name and password refused (DEVICE_CREDENTIALS_FILE is set)')
        done(loginError(5, 'user name and password required') as never, false)
        return
      }
      // Both compared, whatever the first says: the time does not tell which one failed.
      const nameOk = matchesSecret(username, internalName!)
      const secretOk = matchesSecret(secret, internalSecret!)
      if (nameOk && secretOk) {
        identities.set(client, { internal: true })
        done(null, true)
        return
      }
      const device = credentials.devices.get(username)
      if (device && matchesSecret(secret, device.sha256)) return admit(client, device, done)
      refuse('bad-login', { clientId: client.id, username: username.slice(0, 128) }, `MQTT login refused for "${username.slice(0, 128)}": unknown user name or wrong password`)
      done(loginError(4, 'bad user name or password') as never, false)
    },
    authorizeSubscribe: (client, sub: Subscription, done) => {
      const who = client && identities.get(client)
      if (!who || 'internal' in who || sub.topic.startsWith(who.prefix)) {
        done(null, sub)
        return
      }
      refuse('foreign-subscribe', { clientId: client!.id, username: who.device.username, topic: sub.topic.slice(0, 120) },
        `device ${who.device.username} may subscribe only under ${who.prefix} (e.g. ${who.prefix}commands/#), not to "${sub.topic.slice(0, 120)}"`)
      done(null, null as never)
    },
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((done, fail) => {
    server.once('error', fail)
    server.listen(port, host, () => {
      server.off('error', fail)
      done()
    })
  })
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}
