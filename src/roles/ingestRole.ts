import type { Logger } from 'pino'
import type { Config } from '../config.ts'
import type { TwinRegistry } from '../definitions/registry.ts'
import { startEmbeddedBroker, type EmbeddedBroker, type RefusalReason } from '../embedded/broker.ts'
import type { BrokerCredentials } from '../embedded/deviceCredentials.ts'
import type { Ingestor, IngestStats } from '../ingest/ingestor.ts'
import { startMqttIngest } from '../ingest/mqttIngest.ts'
import { isCommandTopic } from '../model/topics.ts'
import type { TlsSettings } from '../net/tlsSettings.ts'
import type { Link } from '../observability/readiness.ts'

export type IngestSettings = Pick<Config, 'mqttUrl' | 'mqttPort' | 'mqttHost' | 'mqttProtocol' | 'mqttClientId' | 'ingestPartition' | 'mqttSharedGroup'>

export interface IngestRoleOptions {
  ingestor: Ingestor
  registry: TwinRegistry
  log: Logger
  settings: IngestSettings
  /** device logins on the embedded broker (DEVICE_CREDENTIALS_FILE), and the engine's own login */
  credentials?: BrokerCredentials
  onRefused?: (reason: RefusalReason) => void
  /** the embedded broker's TLS listener; the external broker's TLS material, login and the MQTT version it speaks */
  tls?: Pick<TlsSettings, 'broker' | 'mqtt'>
  login?: { username: string; password: string }
  protocolVersion?: 4 | 5
}

/** The ingest role of one process: device events from the broker into the shard inboxes. */
export interface IngestRole {
  /** the embedded broker, when no MQTT_URL is set */
  readonly broker?: EmbeddedBroker
  /** the broker's URL (the embedded broker's, or MQTT_URL) */
  readonly mqttUrl: string
  /** the subscriber's broker connection (external broker) */
  readonly links: readonly Link[]
  stats(): IngestStats
  stop(): Promise<void>
}

/**
 * With no MQTT_URL, the embedded broker hands every device publish to the
 * ingestor before it acknowledges it (the PUBACK waits for Redis); with one,
 * a subscriber with a persistent session does the same on the external
 * broker (ADR 0004).
 */
export async function startIngestRole(o: IngestRoleOptions): Promise<IngestRole> {
  const { ingestor, registry, log, settings } = o
  if (!settings.mqttUrl) {
    const broker = await startEmbeddedBroker({
      port: settings.mqttPort,
      host: settings.mqttHost,
      // In-process ingest: the device's PUBACK waits for the Redis write. Device
      // topics (devices/…, any custom template, input topics) are ingested; others pass.
      // A write still held at the ingest gate when the device's connection closes is dropped: it resends.
      intercept: (_client, topic, payload, gone) => (isDeviceTopic(registry, topic) ? ingestor.fromMqtt(topic, payload, gone) : undefined),
      logger: log,
      credentials: o.credentials,
      // A logged-in device may also publish on its type's own topic template.
      deviceOfTopic: (topic) => registry.matchTopic(topic.split('/')),
      onRefused: o.onRefused,
      tls: o.tls?.broker,
    })
    return { broker, mqttUrl: `mqtt://127.0.0.1:${broker.port}`, links: [], stats: () => ingestor.stats, stop: () => broker.close() }
  }
  const subscriber = await startMqttIngest({
    url: settings.mqttUrl,
    clientId: settings.mqttClientId,
    protocolVersion: o.protocolVersion ?? settings.mqttProtocol,
    tls: o.tls?.mqtt,
    ...o.login,
    filters: registry.filters,
    ingestor,
    log,
    partition: settings.ingestPartition,
    sharedGroup: settings.mqttSharedGroup,
  })
  return {
    mqttUrl: settings.mqttUrl,
    links: [{ name: 'the ingest subscriber', connected: () => subscriber.client.connected }],
    stats: () => ingestor.stats,
    stop: () => subscriber.close(),
  }
}

/** A topic the engine ingests: under devices/ (but not the commands it sends), a twin's own topic template, or an input topic (ADR 0021). */
function isDeviceTopic(registry: TwinRegistry, topic: string): boolean {
  if (isCommandTopic(topic)) return false
  if (topic.startsWith('devices/')) return true
  return topic.length <= 512 && (registry.matchTopic(topic.split('/')) !== null || registry.inputs.takes(topic))
}
