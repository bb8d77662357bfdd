import { createServer, type Server } from 'node:net'
import { Aedes, type Client, type PublishPacket } from 'aedes'

/**
 * Sees every PUBLISH a client sends before the broker acknowledges it. Return
 * a promise to hold the PUBACK until it settles (rejecting refuses the
 * message: no PUBACK, the connection is closed and the device retries); return
 * undefined to let the message through at once.
 */
export interface PublishInterceptor {
  (client: { id: string } | null, topic: string, payload: Buffer): Promise<void> | undefined
}

export interface EmbeddedBroker {
  readonly port: number
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
}

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
  const { intercept, logger } = options
  const aedes = await Aedes.createBroker(intercept ? { authorizePublish: authorizeWith(intercept) } : {})

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

  let closing: Promise<void> | undefined
  return {
    port,
    aedes,
    close: () => (closing ??= (async () => {
      // aedes first: it destroys client sockets, which server.close() would
      // otherwise wait on forever.
      await new Promise<void>((done) => aedes.close(() => done()))
      await new Promise<void>((done) => server.close(() => done()))
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
 */
function authorizeWith(intercept: PublishInterceptor) {
  const tails = new WeakMap<Client, Promise<boolean>>()
  return (client: Client | null, packet: PublishPacket, callback: Done): void => {
    // Replacing aedes' default authorizePublish drops its $SYS guard; keep it
    // (moscajs/aedes#597: clients publishing to $SYS can disrupt the broker).
    if (packet.topic.startsWith(SYS_PREFIX)) {
      callback(new Error(`${SYS_PREFIX} topic is reserved`))
      return
    }
    let pending: Promise<void> | undefined
    try {
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
      pending = intercept(client ? { id: client.id } : null, packet.topic, payload)
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

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}
