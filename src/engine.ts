import { randomBytes, randomUUID } from 'node:crypto'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import mqtt from 'mqtt'
import type { FastifyInstance } from 'fastify'
import { buildApi } from './api/app.ts'
import { loadApiAuth } from './api/auth.ts'
import { systemClock, type Clock } from './clock.ts'
import type { Config } from './config.ts'
import { loadTwinRegistry, type TwinRegistry } from './definitions/registry.ts'
import { startEmbeddedBroker, type EmbeddedBroker } from './embedded/broker.ts'
import { loadDeviceCredentials } from './embedded/deviceCredentials.ts'
import { startRedisOrInstall } from './embedded/aptInstall.ts'
import { loadWebhooks } from './effects/webhookConfig.ts'
import { startWebhookEffects, type WebhookEffects } from './effects/webhookEffects.ts'
import { superviseRedis, type SupervisedRedis } from './embedded/redisSupervisor.ts'
import { negotiateMqttProtocol } from './ingest/mqttProtocol.ts'
import { tlsSettings } from './net/tlsSettings.ts'
import { startOpsServer } from './observability/opsServer.ts'
import { startRedisFaults } from './observability/redisFaults.ts'
import { Ingestor } from './ingest/ingestor.ts'
import { startMqttIngest } from './ingest/mqttIngest.ts'
import { createLogger, type Logger } from './observability/log.ts'
import { readClusterFigures } from './observability/clusterFigures.ts'
import { Metrics } from './observability/metrics.ts'
import { notReadyReasons } from './observability/readiness.ts'
import { registerFaultMetrics } from './observability/faultMetrics.ts'
import { ChangeBus } from './runtime/changeBus.ts'
import { ChangeFeedPublisher, subscribeChangeFeed } from './runtime/changeFeed.ts'
import { TwinError } from './errors.ts'
import { isCommandTopic, OutboxRelay } from './runtime/outboxRelay.ts'
import { Worker } from './runtime/worker.ts'
import { DEVICE_TYPES } from './sim/devices.ts'
import { startFleet, type Fleet } from './sim/fleet.ts'
import { ensureShardCount } from './store/clusterMeta.ts'
import { Keys } from './store/keys.ts'
import { connectRedis } from './store/redis.ts'
import { TwinStore } from './store/twinStore.ts'

export interface Engine {
  readonly config: Config
  readonly log: Logger
  /** http://host:port, when the api role runs */
  readonly httpUrl?: string
  /** mqtt://host:port of the broker the engine uses */
  readonly mqttUrl: string
  readonly redisUrl: string
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
    const allRoles = roles.size === 3
    if (!allRoles && !config.redisUrl) {
      throw new TwinError('TWIN_ERR_CONFIG', `--role ${[...roles].join(',')}: processes with some of the roles share one Redis; set REDIS_URL (npm run cluster does it for you)`)
    }
    if (config.redisCluster && !config.redisUrl) {
      throw new TwinError('TWIN_ERR_CONFIG', 'REDIS_CLUSTER=true needs REDIS_URL: the cluster\'s seed nodes, comma-separated')
    }
    if (!roles.has('ingest') && roles.has('worker') && !config.mqttUrl) {
      throw new TwinError('TWIN_ERR_CONFIG', 'a worker without the ingest role publishes derived events to the broker the ingest process runs; set MQTT_URL')
    }
    // Settings that can refuse to start are read before anything starts.
    const auth = roles.has('api') ? loadApiAuth(config) : undefined
    if (auth?.mode === 'open') log.warn({ auth: 'open' }, 'open access: local development only (AUTH=open); set API_TOKENS or API_TOKENS_FILE in production')
    const devices = config.deviceCredentialsFile ? loadDeviceCredentials(config.deviceCredentialsFile) : undefined
    // The engine's own MQTT login: given (external broker, cluster workers) or, for the embedded broker, made here and never logged.
    const mqttLogin = config.mqttPassword !== undefined
      ? { username: config.mqttUsername, password: config.mqttPassword }
      : devices ? { username: config.mqttUsername, password: randomBytes(24).toString('base64url') } : undefined
    const metrics = new Metrics()
    const tls = tlsSettings(config)
    let managed: SupervisedRedis | undefined
    if (!config.redisUrl) {
      // Supervised: restarted on the same data if it dies (issue 15).
      managed = superviseRedis(await startRedisOrInstall(config.dataDir, config.autoInstallRedis, log), { dataDir: config.dataDir, log })
      stops.push(() => managed!.stop())
    }
    const redisUrl = config.redisUrl ?? managed!.url
    const redis = connectRedis(redisUrl, 'twin-engine', config.redisCluster, log, { tls: tls.redis })
    stops.push(() => redis.quit())
    const keys = new Keys(config.keyPrefix)
    const shards = await ensureShardCount(redis, keys, config.shards)
    // Inbox lengths are watched only where events come in (ingest, and the api's POST /events).
    const ingests = roles.has('ingest') || roles.has('api')
    const faults = await startRedisFaults({ redis, url: redisUrl, cluster: config.redisCluster, tls: tls.redis, keys, shards, inboxMaxLength: ingests ? config.inboxMaxLength : 0, log })
    stops.push(() => faults.stop())
    const { health, gate } = faults
    const registry = await loadTwinRegistry(config.twinsDir, config.rulesDir)
    // Validated in every role, so a bad file stops any process at startup.
    const webhooks = await loadWebhooks(config.webhooksFile)
    const bus = new ChangeBus()
    const ingestor = new Ingestor({ redis: faults.ingestRedis, keys, registry, shards, maxPayloadBytes: config.maxPayloadBytes, deadLetterMaxLen: config.deadLetterMaxLen, log, gate, health })

    let broker: EmbeddedBroker | undefined
    if (!config.mqttUrl && roles.has('ingest')) {
      broker = await startEmbeddedBroker({
        port: config.mqttPort,
        host: config.mqttHost,
        // In-process ingest: the device's PUBACK waits for the Redis write. Device
        // topics (devices/… and any custom template) are ingested; others pass.
        intercept: (_client, topic, payload, gone) => (isDeviceTopic(registry, topic) ? ingestor.fromMqtt(topic, payload, gone) : undefined),
        logger: log,
        credentials: devices && { devices, internal: mqttLogin! },
        // A logged-in device may also publish on its type's own topic template.
        deviceOfTopic: (topic) => registry.matchTopic(topic.split('/')),
        onRefused: metrics?.countRefused,
        tls: tls.broker,
      })
      stops.push(() => broker!.close())
    }
    const mqttUrl = config.mqttUrl ?? (broker ? `mqtt://127.0.0.1:${broker.port}` : '')
    const links: Array<{ name: string; connected: () => boolean }> = []
    // An external broker that speaks only MQTT 3.1.1 is detected, not a stack trace (issue 15).
    const mqttProtocol = config.mqttUrl && (roles.has('ingest') || roles.has('worker'))
      ? await negotiateMqttProtocol(config.mqttUrl, config.mqttProtocol, { ...tls.mqtt, ...mqttLogin }, log)
      : 4
    if (config.mqttUrl && roles.has('ingest')) {
      const ingest = await startMqttIngest({
        url: config.mqttUrl,
        clientId: config.mqttClientId,
        protocolVersion: mqttProtocol,
        tls: tls.mqtt,
        ...mqttLogin,
        filters: registry.filters,
        ingestor,
        log,
        partition: config.ingestPartition,
        sharedGroup: config.mqttSharedGroup,
      })
      stops.push(() => ingest.close())
      links.push({ name: 'the ingest subscriber', connected: () => ingest.client.connected })
    }

    let worker: Worker | undefined
    if (roles.has('worker')) {
      const publisher = await mqtt.connectAsync(mqttUrl, { clientId: `twin-engine-relay-${randomUUID().slice(0, 8)}`, protocolVersion: mqttProtocol, ...(config.mqttUrl ? tls.mqtt : {}), ...mqttLogin })
      links.push({ name: 'the outbox relay', connected: () => publisher.connected })
      // Forced: QoS 1 publishes a down broker never acknowledges must not hold up shutdown.
      stops.push(() => publisher.endAsync(true))
      // Stopped after the relay (stops run in reverse), which enqueues into it.
      let effects: WebhookEffects | undefined
      if (webhooks.length) {
        effects = await startWebhookEffects({ redis, keys, webhooks, concurrency: config.webhookConcurrency, log })
        stops.push(() => effects!.stop())
      }
      const relay = new OutboxRelay(redis, keys, publisher, log, { shards, outboxMaxLen: config.outboxMaxLen, sinks: effects ? [effects.sink] : [] })
      stops.push(() => relay.stop())
      worker = new Worker({
        redis, keys, registry, bus, clock, log, shards,
        batchSize: config.batchSize,
        cacheSize: config.cacheSize,
        leaseTtlMs: config.leaseTtlMs,
        historyLength: config.historyLength,
        deadLetterMaxLen: config.deadLetterMaxLen,
        onOutbox: (shard) => relay.notify(shard),
        onAcquire: (shard) => relay.resume(shard),
        onRelease: (shard) => relay.forget(shard),
        onCommit: metrics?.observeCommit,
        feed: new ChangeFeedPublisher(redis, keys),
      })
      await worker.start()
      stops.push(() => worker!.stop())
    }

    const problems = () => faults.problems(links)
    metrics.use({ ingest: () => ingestor.stats, worker: worker && (() => ({ stats: worker!.stats, activeTwins: worker!.cache.size, ownedShards: worker!.ownedShards.length })) })
    registerFaultMetrics(metrics, { health, gate, redisRestarts: () => managed?.restarts ?? 0 })
    let app: FastifyInstance | undefined
    let httpUrl: string | undefined
    if (!roles.has('api')) {
      // Probes and metrics for every role of the one image (Docker HEALTHCHECK, Kubernetes, Prometheus).
      const ops = await startOpsServer({
        host: config.httpHost, port: config.httpPort, log, metrics, problems,
        health: () => ({ roles: [...roles], shards, redis: health.condition, ingest: { ...ingestor.stats, ...gate.stats }, worker: worker && { id: worker.id, ownedShards: worker.ownedShards.length, activeTwins: worker.cache.size, ...worker.stats } }),
        notReady: async () => (health.condition.status === 'up' ? notReadyReasons({ links, worker, redis, keys, shards, leaseTtlMs: config.leaseTtlMs }) : [health.condition.reason]),
      })
      httpUrl = ops.url
      stops.push(() => ops.close())
    }
    if (roles.has('api')) {
      // How long callbacks wait for the event loop: the first sign of an overloaded process.
      const loopDelay = monitorEventLoopDelay({ resolution: 10 })
      loopDelay.enable()
      stops.push(async () => loopDelay.disable())
      const ms = (ns: number) => Math.round(ns / 1e4) / 100
      const unsubscribe = await subscribeChangeFeed({ redis, keys, bus, localWorkerId: worker?.id, log })
      stops.push(unsubscribe)
      const store = new TwinStore(redis, keys, shards)
      app = await buildApi(
        {
          redis, keys, shards, registry, store, ingestor, bus, webhooks,
          maxPayloadBytes: config.maxPayloadBytes,
          leaseTtlMs: config.leaseTtlMs,
          auth: auth!,
          rateLimit: { max: config.rateLimitMax, windowMs: config.rateLimitWindowMs },
          metrics: metrics.use({ cluster: () => readClusterFigures(redis, keys, shards, config.leaseTtlMs) }),
          problems,
          redisHealth: health,
          https: tls.https,
          notReady: () => notReadyReasons({ links, worker, redis, keys, shards, leaseTtlMs: config.leaseTtlMs }),
          ws: {
            highWaterBytes: config.wsHighWaterBytes, maxBufferedBytes: config.wsMaxBufferedBytes, slowCloseMs: config.wsSlowCloseMs, maxHeld: config.wsMaxHeld,
            heartbeatMs: config.wsHeartbeatMs, rateLimit: config.wsRateLimit, rateBurst: config.wsRateBurst, floodCloseMs: config.wsFloodCloseMs,
            resumeRevs: config.wsResumeRevs, resumeTwins: config.wsResumeTwins, resumeBytes: config.wsResumeBytes,
          },
          health: () => ({
            roles: [...roles],
            shards,
            types: registry.types,
            redis: health.condition,
            ingest: { ...ingestor.stats, ...gate.stats },
            worker: worker && { id: worker.id, ownedShards: worker.ownedShards.length, activeTwins: worker.cache.size, ...worker.stats },
            eventLoopDelayMs: { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) },
          }),
        },
        log,
      )
      await app.listen({ port: config.httpPort, host: config.httpHost })
      const address = app.server.address()
      httpUrl = `${tls.https ? 'https' : 'http'}://${config.httpHost}:${typeof address === 'object' && address ? address.port : config.httpPort}`
      stops.push(() => app!.close())
    }

    let fleet: Fleet | undefined
    if (config.demo && broker) {
      // The simulators cover the shipped twin types; custom types get no demo devices.
      const types = registry.types.filter((t) => DEVICE_TYPES.includes(t))
      fleet = await startFleet({ url: withLogin(mqttUrl, mqttLogin), types, devicesPerType: config.demoDevices, intervalMs: config.demoIntervalMs })
      stops.push(() => fleet!.stop())
    }

    log.info({ http: httpUrl, mqtt: withLogin(mqttUrl, undefined), redis: redisUrl, deviceLogins: devices ? devices.size : 'off', roles: [...roles], demoDevices: fleet?.devices.length ?? 0 }, 'twin-engine started')
    return { config, log, httpUrl, mqttUrl, redisUrl, worker, ingestor, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** A topic the engine ingests: under devices/ (but not the commands it sends), or matching a twin's own topic template. */
function isDeviceTopic(registry: TwinRegistry, topic: string): boolean {
  if (isCommandTopic(topic)) return false
  return topic.startsWith('devices/') || (topic.length <= 512 && registry.matchTopic(topic.split('/')) !== null)
}

/** The URL with this login, or (login undefined) with any login stripped, e.g. for logging. */
function withLogin(url: string, login: { username: string; password: string } | undefined): string {
  const u = new URL(url)
  u.username = login ? encodeURIComponent(login.username) : ''
  u.password = login ? encodeURIComponent(login.password) : ''
  return u.toString().replace(/\/$/, '')
}
