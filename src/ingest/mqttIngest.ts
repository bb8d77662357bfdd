import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { Logger } from 'pino'
import type { TlsMaterial } from '../net/tlsFiles.ts'
import { WriteCancelled } from './backpressure.ts'
import type { Ingestor } from './ingestor.ts'

export interface MqttIngestOptions {
  url: string
  clientId: string
  protocolVersion: 4 | 5
  filters: string[]
  ingestor: Ingestor
  log: Logger
  /** take only the devices of partition `index` of `count` (several ingest processes, any broker) */
  partition?: { index: number; count: number }
  /** subscribe as `$share/<group>/<filter>` (brokers with a sticky or hash strategy) */
  sharedGroup?: string
  /** mqtts://: CA, client certificate and key (MQTT_CA_FILE, MQTT_CERT_FILE, MQTT_KEY_FILE) */
  tls?: TlsMaterial
  /** login on the broker */
  username?: string
  password?: string
}

type SendPacket = (packet: { cmd: string; messageId?: number }, cb?: () => void, ...rest: unknown[]) => void

/**
 * Subscribes to device topics on an external broker and feeds the ingestor.
 *
 * Several ingest processes keep per-device order by partitioning (ADR 0006):
 * each subscribes to every device topic and takes only the devices of its
 * partition (`INGEST_PARTITION=k/n`), acknowledging the rest unread. This
 * works on any broker, mosquitto's round-robin shared subscriptions included,
 * at the price of every ingest process receiving every message. On brokers
 * that route one publisher to one subscriber (EMQX `hash_clientid`/`hash_topic`)
 * a shared subscription (`MQTT_SHARED_GROUP`) avoids that fan-out.
 *
 * The PUBACK for each QoS 1 message is sent only after Redis has the event,
 * with a persistent session (clean: false), so a crash before that makes the
 * broker redeliver. mqtt.js handles one incoming packet at a time and sends
 * the PUBACK from handleMessage's callback, which would cost one Redis round
 * trip per message (DESIGN.md: "don't await a Redis round trip per message —
 * batch"). So handleMessage returns at once, letting mqtt.js parse on and the
 * ingestor batch many messages into one pipeline, while the PUBACK itself is
 * held back until that message's write is acknowledged.
 */
export async function startMqttIngest(o: MqttIngestOptions): Promise<{ client: MqttClient; close(): Promise<void> }> {
  const options: IClientOptions = {
    clientId: o.clientId,
    clean: false,
    protocolVersion: o.protocolVersion,
    reconnectPeriod: 1000,
    ...o.tls,
    ...(o.username !== undefined ? { username: o.username, password: o.password } : {}),
    // MQTT 5: keep the session an hour across restarts, and let the broker send
    // up to 1000 unacknowledged messages so batches can fill.
    ...(o.protocolVersion === 5 ? { properties: { sessionExpiryInterval: 3600, receiveMaximum: 1000 } } : {}),
  }
  const client = mqtt.connect(o.url, options)
  const gate = new PubackGate(client, o.log)
  let closing = false
  const partition = o.partition ?? { index: 0, count: 1 }
  client.handleMessage = (packet, callback) => {
    // While closing, take nothing new: without a PUBACK the broker keeps it for
    // the next session. The callback still runs, so mqtt.js keeps parsing and
    // the connection can end cleanly.
    if (closing) {
      if (packet.messageId !== undefined) gate.swallow(packet.messageId)
      return callback()
    }
    // Another ingest process owns this device: acknowledge and leave it to that one.
    if (partition.count > 1 && o.ingestor.partitionOf(packet.topic, partition.count) !== partition.index) return callback()
    const write = o.ingestor.fromMqtt(packet.topic, packet.payload as Buffer, gate.connectionGone)
    if (packet.qos > 0 && packet.messageId !== undefined) gate.hold(packet.messageId, write)
    else write.catch((err: Error) => { if (!(err instanceof WriteCancelled)) o.log.error({ err }, 'ingest write of a QoS 0 message failed; it is lost') })
    callback()
  }
  client.on('error', (err) => o.log.warn({ err }, 'MQTT ingest client error'))

  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve())
      client.once('error', reject)
    })
    await client.subscribeAsync(o.sharedGroup ? o.filters.map((f) => `$share/${o.sharedGroup}/${f}`) : o.filters, { qos: 1 })
  } catch (err) {
    // Leave no client behind that would reconnect later under the ingest client id.
    client.end(true)
    throw err
  }
  o.log.info({ url: o.url, filters: o.filters }, 'MQTT ingest subscribed')
  return {
    client,
    close: async () => {
      closing = true
      // Bounded: a PUBACK that never gets written (connection gone) must not hang shutdown;
      // the broker then redelivers that message.
      await gate.drain(10_000)
      await client.endAsync()
    },
  }
}

/**
 * Holds each QoS 1 PUBACK back until its message's write to Redis is
 * acknowledged, by intercepting mqtt.js's packet writer: mqtt.js asks for
 * the PUBACK as soon as handleMessage calls back, which it does at once so
 * that parsing goes on and the ingestor can batch.
 */
class PubackGate {
  /** writes whose PUBACK mqtt.js has asked to send, by packet id */
  private readonly held = new Map<number, { write: Promise<void>; connection: number }>()
  /** writes still on their way to Redis, or whose PUBACK is not written yet */
  private readonly inflight = new Set<Promise<void>>()
  /** messages that arrived while closing: their PUBACK is swallowed so the broker keeps them */
  private readonly unacked = new Set<number>()
  /**
   * Bumped on every disconnect: a PUBACK belongs to the connection its message
   * came on. One for a torn-down connection is dropped, since the broker
   * redelivers that message.
   */
  private connection = 0
  /** aborted when the connection closes: writes still waiting at the ingest gate are dropped (the broker redelivers them) */
  private gone = new AbortController()

  constructor(
    private readonly client: MqttClient,
    private readonly log: Logger,
  ) {
    client.on('close', () => {
      this.connection++
      this.gone.abort()
      this.gone = new AbortController()
    })
    const internal = client as unknown as { _sendPacket: SendPacket }
    const send = internal._sendPacket.bind(client)
    internal._sendPacket = (packet, cb, ...rest) => {
      if (packet.cmd !== 'puback' || packet.messageId === undefined) return send(packet, cb, ...rest)
      if (this.unacked.delete(packet.messageId)) {
        cb?.()
        return
      }
      const entry = this.held.get(packet.messageId)
      if (!entry) return send(packet, cb, ...rest)
      this.held.delete(packet.messageId)
      cb?.()
      this.release(entry, () => new Promise<void>((resolve) => send(packet, () => resolve())))
    }
  }

  /** The signal of the current connection's end (ingestor.fromMqtt drops a write still held at its gate). */
  get connectionGone(): AbortSignal {
    return this.gone.signal
  }

  /** The PUBACK of this message waits for `write`. */
  hold(messageId: number, write: Promise<void>): void {
    this.held.set(messageId, { write, connection: this.connection })
  }

  /** This message gets no PUBACK (the broker keeps it). */
  swallow(messageId: number): void {
    this.unacked.add(messageId)
  }

  /** Waits for the writes in flight and their PUBACKs, at most `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.inflight.size && Date.now() < deadline) await Promise.race([Promise.allSettled([...this.inflight]), new Promise((r) => setTimeout(r, 100))])
  }

  private release(entry: { write: Promise<void>; connection: number }, puback: () => Promise<void>): void {
    const acked = entry.write.then(
      () => (entry.connection === this.connection ? puback() : undefined),
      (err: Error) => {
        // Dropped at the gate because its connection is gone: the broker redelivers it.
        if (err instanceof WriteCancelled) return
        // Redis refused or is down: no PUBACK. Drop the connection so the
        // broker redelivers everything unacknowledged after reconnecting.
        this.log.error({ err }, 'ingest write failed; reconnecting to the broker for redelivery')
        this.client.stream?.destroy()
      },
    )
    this.inflight.add(acked)
    void acked.finally(() => this.inflight.delete(acked))
  }
}
