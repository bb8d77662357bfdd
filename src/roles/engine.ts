import { randomBytes } from 'node:crypto'
import { startApiRole } from './apiRole.ts'
import { startIngestRole } from './ingestRole.ts'
import { startWorkerRole, type WorkerRole } from './workerRole.ts'
import { loadApiAuth } from '../api/auth.ts'
import { systemClock, type Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import { Drivers } from '../core/drivers.ts'
import { loadTwinRegistry } from '../definitions/registry.ts'
import { loadWebhooks } from '../effects/webhookConfig.ts'
import { startRedisOrInstall } from '../embedded/aptInstall.ts'
import { loadDeviceCredentials, type BrokerCredentials } from '../embedded/deviceCredentials.ts'
import { superviseRedis, type SupervisedRedis } from '../embedded/redisSupervisor.ts'
import { TwinError } from '../errors.ts'
import { ChangeBus } from '../feed/changeBus.ts'
import type { IngestGate } from '../ingest/backpressure.ts'
import { Ingestor } from '../ingest/ingestor.ts'
import { negotiateMqttProtocol } from '../ingest/mqttProtocol.ts'
import { checkStoredDefinitions } from '../jobs/definitionCheck.ts'
import { tlsSettings } from '../net/tlsSettings.ts'
import { registerFaultMetrics } from '../observability/faultMetrics.ts'
import { createLogger, type Logger } from '../observability/log.ts'
import { Metrics } from '../observability/metrics.ts'
import { startOpsServer } from '../observability/opsServer.ts'
import { notReadyReasons, type Link } from '../observability/readiness.ts'
import { startRedisFaults } from '../observability/redisFaults.ts'
import type { RedisHealth } from '../store/redisHealth.ts'
import { ensureShardCount } from '../store/clusterMeta.ts'
import { Keys } from '../store/keys.ts'
import type { RedisClient } from '../store/redis.ts'
import { connectRedis } from '../store/redis.ts'
import type { Worker } from '../worker/worker.ts'

export interface Engine {
  readonly config: Config
  readonly log: Logger
  /** http://host:port, when the api role runs */
  readonly httpUrl?: string
  /** mqtt://host:port of the broker the engine uses */
  readonly mqttUrl: string
  /** the engine's own MQTT login on the embedded broker (device logins on), for in-process clients such as the demo fleet */
  readonly mqttLogin?: { username: string; password: string }
  readonly redisUrl: string
  /** the embedded broker runs in this process (no MQTT_URL, ingest role) */
  readonly embeddedBroker: boolean
  readonly types: readonly string[]
  readonly worker?: Worker
  readonly ingestor?: Ingestor
  stop(): Promise<void>
}

/**
 * Starts the roles the config asks for, in one process (DESIGN.md decision 7),
 * with the embedded broker and a managed redis-server unless external ones
 * are configured (decision 8). `stop()` shuts down in reverse order, letting
 * the worker commit its batch in flight.
 */
export async function startEngine(config: Config, options: { clock?: Clock; log?: Logger } = {}): Promise<Engine> {
  const log = options.log ?? createLogger(config.logLevel, undefined, config.logFormat)
  const clock = options.clock ?? systemClock
  const roles = new Set(config.roles)
  const stops: Array<() => Promise<unknown>> = []
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch((err: Error) => log.error({ err }, 'error while stopping'))
  }

  try {
    checkRoles(config)
    // Settings that can refuse to start are read before anything starts.
    const auth = roles.has('api') ? loadApiAuth(config) : undefined
    if (auth?.mode === 'open') log.warn({ auth: 'open' }, 'open access: local development only (AUTH=open); set API_TOKENS or API_TOKENS_FILE in production')
    const credentials = brokerCredentials(config)
    const metrics = new Metrics()
    const tls = tlsSettings(config)
    let managed: SupervisedRedis | undefined
    let redisUrl = config.redisUrl
    if (!redisUrl) {
      // Supervised: restarted on the same data if it dies (ADR 0042).
      const supervised = superviseRedis(await startRedisOrInstall(config.dataDir, config.autoInstallRedis, log), { dataDir: config.dataDir, log })
      managed = supervised
      stops.push(() => supervised.stop())
      redisUrl = supervised.url
    }
    const redis = connectRedis(redisUrl, 'twin-engine', config.redisCluster, log, { tls: tls.redis })
    stops.push(() => redis.quit())
    const keys = new Keys(config.keyPrefix)
    const shards = await ensureShardCount(redis, keys, config.shards)
    // Inbox lengths are watched only where events come in (ingest, and the api's POST /events).
    const faults = await startRedisFaults({ redis, url: redisUrl, cluster: config.redisCluster, tls: tls.redis, keys, shards, inboxMaxLength: roles.has('ingest') || roles.has('api') ? config.inboxMaxLength : 0, log })
    stops.push(() => faults.stop())
    const { health, gate } = faults
    const registry = await loadTwinRegistry(config.twinsDir, config.rulesDir)
    const drivers = new Drivers(registry)
    const definitions = await checkStoredDefinitions(redis, keys, shards, drivers)
    if (definitions.problems.length) log.warn({ problems: definitions.problems, stored: definitions.stored, versions: definitions.versions }, 'these definitions cannot handle some stored twins as they are')
    else log.info({ versions: definitions.versions, stored: definitions.stored, sampled: definitions.sample.checked }, 'definitions checked against the stored twins')
    // Validated in every role, so a bad file stops any process at startup.
    const webhooks = await loadWebhooks(config.webhooksFile)
    const bus = new ChangeBus()
    const ingestor = new Ingestor({ redis: faults.ingestRedis, keys, registry, shards, maxPayloadBytes: config.maxPayloadBytes, deadLetterMaxLen: config.deadLetterMaxLen, log, gate, health })
    const mqttLogin = credentials?.internal ?? (config.mqttPassword !== undefined ? { username: config.mqttUsername, password: config.mqttPassword } : undefined)
    // An external broker that speaks only MQTT 3.1.1 is detected, not a stack trace (ADR 0044); the embedded one speaks 3.1.1.
    const mqttProtocol = config.mqttUrl && (roles.has('ingest') || roles.has('worker'))
      ? await negotiateMqttProtocol(config.mqttUrl, config.mqttProtocol, { ...tls.mqtt, ...mqttLogin }, log)
      : 4

    const ingest = roles.has('ingest')
      ? await startIngestRole({ ingestor, registry, log, settings: config, credentials, onRefused: metrics.countRefused, tls, login: mqttLogin, protocolVersion: mqttProtocol })
      : undefined
    if (ingest) stops.push(() => ingest.stop())
    const mqttUrl = config.mqttUrl ?? ingest?.mqttUrl ?? ''

    const worker = roles.has('worker')
      ? await startWorkerRole({
          redis, keys, drivers, bus, clock, log, shards, settings: config, webhooks, feed: true,
          mqtt: { url: mqttUrl, options: { protocolVersion: mqttProtocol, ...(config.mqttUrl ? tls.mqtt : {}), ...mqttLogin } },
          onCommit: metrics.observeCommit,
          adminJobs: true,
          retention: config.retainInputMs > 0 ? { retainMs: config.retainInputMs, maxBytes: Math.floor(config.retainMaxBytes / shards), snapshotMs: config.retainSnapshotMs } : undefined,
        })
      : undefined
    if (worker) stops.push(() => worker.stop())

    const links = [...(ingest?.links ?? []), ...(worker?.links ?? [])]
    const problems = () => faults.problems(links)
    metrics.use({ ingest: () => ingestor.stats, worker: worker && (() => ({ stats: worker.worker.stats, activeTwins: worker.worker.cache.size, ownedShards: worker.worker.ownedShards.length })) })
    registerFaultMetrics(metrics, { health, gate, redisRestarts: () => managed?.restarts ?? 0 })
    const api = auth
      ? await startApiRole({
          redis, keys, shards, registry, ingestor, bus, auth, metrics, log, webhooks, worker, definitions, links, problems,
          settings: config,
          roles: [...roles],
          redisHealth: health,
          gateStats: () => gate.stats,
          https: tls.https,
        })
      : await startProbes({ config, roles, shards, log, metrics, problems, health, gate, ingestor, worker, links, redis, keys })
    if (api) stops.push(() => api.stop())

    log.info({ http: api.url, mqtt: withoutLogin(mqttUrl), redis: redisUrl, deviceLogins: credentials ? credentials.devices.size : 'off', roles: [...roles] }, 'twin-engine started')
    return {
      config, log, httpUrl: api.url, mqttUrl, mqttLogin: credentials?.internal, redisUrl, embeddedBroker: ingest?.broker !== undefined,
      types: registry.types, worker: worker?.worker, ingestor, stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}

/**
 * /live, /health, /ready and /metrics for a process without the api role (a
 * worker), so every role of the one image has the same probes (ADR 0044).
 */
async function startProbes(o: {
  config: Config; roles: Set<string>; shards: number; log: Logger; metrics: Metrics; problems: () => string[]; health: RedisHealth; gate: IngestGate
  ingestor: Ingestor; worker?: WorkerRole; links: Link[]; redis: RedisClient; keys: Keys
}): Promise<{ url: string; stop(): Promise<void> }> {
  const { config, health, worker } = o
  const ops = await startOpsServer({
    host: config.httpHost, port: config.httpPort, log: o.log, metrics: o.metrics, problems: o.problems,
    health: () => ({ roles: [...o.roles], shards: o.shards, redis: health.condition, ingest: { ...o.ingestor.stats, ...o.gate.stats }, worker: worker?.stats() }),
    notReady: async () => (health.condition.status === 'up' ? notReadyReasons({ links: o.links, worker: worker?.worker, redis: o.redis, keys: o.keys, shards: o.shards, leaseTtlMs: config.leaseTtlMs }) : [health.condition.reason]),
  })
  return { url: ops.url, stop: () => ops.close() }
}

/** Role combinations that cannot work, refused before anything starts. */
function checkRoles(config: Config): void {
  const roles = new Set(config.roles)
  if (roles.size !== 3 && !config.redisUrl) {
    throw new TwinError('TWIN_ERR_CONFIG', `--role ${[...roles].join(',')}: processes with some of the roles share one Redis; set REDIS_URL (npm run cluster does it for you)`)
  }
  if (config.redisCluster && !config.redisUrl) {
    throw new TwinError('TWIN_ERR_CONFIG', 'REDIS_CLUSTER=true needs REDIS_URL: the cluster\'s seed nodes, comma-separated')
  }
  if (!roles.has('ingest') && roles.has('worker') && !config.mqttUrl) {
    throw new TwinError('TWIN_ERR_CONFIG', 'a worker without the ingest role publishes derived events to the broker the ingest process runs; set MQTT_URL')
  }
}

/**
 * Device logins on the embedded broker (DEVICE_CREDENTIALS_FILE) and the
 * engine's own login there: given (MQTT_PASSWORD, for cluster workers) or
 * made here for this process and never logged.
 */
function brokerCredentials(config: Config): BrokerCredentials | undefined {
  if (!config.deviceCredentialsFile) return undefined
  const devices = loadDeviceCredentials(config.deviceCredentialsFile)
  const password = config.mqttPassword ?? randomBytes(24).toString('base64url')
  return { devices, internal: { username: config.mqttUsername, password } }
}

/** The URL with any login stripped, for logging. */
function withoutLogin(url: string): string {
  if (!url) return url
  const u = new URL(url)
  u.username = ''
  u.password = ''
  return u.toString().replace(/\/$/, '')
}
