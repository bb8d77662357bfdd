import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { Logger } from 'pino'
import type { Ingestor } from './ingestor.ts'

export interface MqttIngestOptions {
  url: string
  clientId: string
  protocolVersion: 4 | 5
  filters: string[]
  ingestor: Ingestor
  log: Logger
}

type SendPacket = (packet: { cmd: string; messageId?: number }, cb?: () => void, ...rest: unknown[]) => void

/**
 * Subscribes to device topics on an external broker and feeds the ingestor.
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
    // MQTT 5: keep the session an hour across restarts, and let the broker send
    // up to 1000 unacknowledged messages so batches can fill.
    ...(o.protocolVersion === 5 ? { properties: { sessionExpiryInterval: 3600, receiveMaximum: 1000 } } : {}),
  }
  const client = mqtt.connect(o.url, options)
  const held = new Map<number, Promise<void>>()
  const internal = client as unknown as { _sendPacket: SendPacket }
  const send = internal._sendPacket.bind(client)
  internal._sendPacket = (packet, cb, ...rest) => {
    const write = packet.cmd === 'puback' && packet.messageId !== undefined ? held.get(packet.messageId) : undefined
    if (!write) return send(packet, cb, ...rest)
    held.delete(packet.messageId!)
    cb?.()
    write.then(
      () => send(packet),
      (err: Error) => {
        // Redis refused or is down: no PUBACK. Drop the connection so the
        // broker redelivers everything unacknowledged after reconnecting.
        o.log.error({ err }, 'ingest write failed; reconnecting to the broker for redelivery')
        client.stream?.destroy()
      },
    )
  }
  client.handleMessage = (packet, callback) => {
    const write = o.ingestor.fromMqtt(packet.topic, packet.payload as Buffer)
    if (packet.qos > 0 && packet.messageId !== undefined) held.set(packet.messageId, write)
    else write.catch((err: Error) => o.log.error({ err }, 'ingest write of a QoS 0 message failed; it is lost'))
    callback()
  }
  client.on('error', (err) => o.log.warn({ err }, 'MQTT ingest client error'))

  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('error', reject)
  })
  await client.subscribeAsync(o.filters.map((f) => f), { qos: 1 })
  o.log.info({ url: o.url, filters: o.filters }, 'MQTT ingest subscribed')
  return {
    client,
    close: async () => {
      await Promise.allSettled(held.values())
      await client.endAsync()
    },
  }
}
