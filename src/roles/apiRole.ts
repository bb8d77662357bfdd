import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { WorkerRole } from './workerRole.ts'
import { buildApi } from '../api/app.ts'
import type { ApiAuth } from '../api/auth.ts'
import type { Config } from '../config.ts'
import type { TwinRegistry } from '../definitions/registry.ts'
import type { Webhook } from '../effects/webhookConfig.ts'
import type { ChangeBus } from '../feed/changeBus.ts'
import { subscribeChangeFeed } from '../feed/changeFeed.ts'
import type { IngestGateStats } from '../ingest/backpressure.ts'
import type { Ingestor } from '../ingest/ingestor.ts'
import type { DefinitionCheck } from '../jobs/definitionCheck.ts'
import { readClusterFigures } from '../observability/clusterFigures.ts'
import type { Metrics } from '../observability/metrics.ts'
import { notReadyReasons, type Link } from '../observability/readiness.ts'
import type { RedisHealth } from '../store/redisHealth.ts'
import type { Keys } from '../store/keys.ts'
import type { RedisClient } from '../store/redis.ts'
import { TwinStore } from '../store/twinStore.ts'

export type ApiSettings = Pick<Config,
  | 'httpPort' | 'httpHost' | 'maxPayloadBytes' | 'leaseTtlMs' | 'rateLimitMax' | 'rateLimitWindowMs'
  | 'wsHighWaterBytes' | 'wsMaxBufferedBytes' | 'wsSlowCloseMs' | 'wsMaxHeld' | 'wsHeartbeatMs' | 'wsRateLimit' | 'wsRateBurst' | 'wsFloodCloseMs'
  | 'wsResumeRevs' | 'wsResumeTwins' | 'wsResumeBytes'>

export interface ApiRoleOptions {
  redis: RedisClient
  keys: Keys
  shards: number
  registry: TwinRegistry
  ingestor: Ingestor
  bus: ChangeBus
  auth: ApiAuth
  metrics: Metrics
  log: Logger
  settings: ApiSettings
  webhooks: readonly Webhook[]
  /** the roles this process runs, for GET /health */
  roles: readonly string[]
  /** the MQTT links this process needs to be ready (ingest subscriber, relay) */
  links: readonly Link[]
  /** this process's worker role, if it runs one: its notices arrive in memory, and its figures are reported */
  worker?: WorkerRole
  /** the definitions checked against the stored twins at startup (GET /health) */
  definitions?: DefinitionCheck
  /** what does not work now (Redis, broker links): GET /health answers 503 "degraded" with them */
  problems: () => string[]
  /** Redis as this process sees it: 503 at once while it is away, WebSocket status messages */
  redisHealth?: RedisHealth
  /** the ingest gate's figures (held writes, full inboxes), for GET /health */
  gateStats?: () => IngestGateStats
  /** serve HTTPS with this certificate */
  https?: { cert: Buffer; key: Buffer }
}

/** The api role of one process: HTTP and WebSocket, fed by the change feed. */
export interface ApiRole {
  readonly app: FastifyInstance
  /** http://host:port */
  readonly url: string
  stop(): Promise<void>
}

/**
 * Starts the HTTP and WebSocket API: it reads committed twins from Redis,
 * and gets change notices from every worker through the Redis change feed
 * (a worker in this process publishes to the bus directly).
 */
export async function startApiRole(o: ApiRoleOptions): Promise<ApiRole> {
  const { redis, keys, shards, settings, worker } = o
  // How long callbacks wait for the event loop: the first sign of an overloaded process.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 })
  loopDelay.enable()
  const ms = (ns: number) => Math.round(ns / 1e4) / 100
  const unsubscribe = await subscribeChangeFeed({ redis, keys, bus: o.bus, localWorkerId: worker?.worker.id, log: o.log })
  try {
    const app = await buildApi(
      {
        redis, keys, shards, registry: o.registry, store: new TwinStore(redis, keys, shards), ingestor: o.ingestor, bus: o.bus, webhooks: o.webhooks,
        maxPayloadBytes: settings.maxPayloadBytes,
        leaseTtlMs: settings.leaseTtlMs,
        auth: o.auth,
        rateLimit: { max: settings.rateLimitMax, windowMs: settings.rateLimitWindowMs },
        metrics: o.metrics.use({ cluster: () => readClusterFigures(redis, keys, shards, settings.leaseTtlMs) }),
        notReady: () => notReadyReasons({ links: o.links, worker: worker?.worker, redis, keys, shards, leaseTtlMs: settings.leaseTtlMs }),
        problems: o.problems,
        redisHealth: o.redisHealth,
        https: o.https,
        ws: {
          highWaterBytes: settings.wsHighWaterBytes, maxBufferedBytes: settings.wsMaxBufferedBytes, slowCloseMs: settings.wsSlowCloseMs, maxHeld: settings.wsMaxHeld,
          heartbeatMs: settings.wsHeartbeatMs, rateLimit: settings.wsRateLimit, rateBurst: settings.wsRateBurst, floodCloseMs: settings.wsFloodCloseMs,
          resumeRevs: settings.wsResumeRevs, resumeTwins: settings.wsResumeTwins, resumeBytes: settings.wsResumeBytes,
        },
        health: () => ({
          roles: [...o.roles],
          shards,
          types: o.registry.types,
          redis: o.redisHealth?.condition,
          ingest: { ...o.ingestor.stats, ...o.gateStats?.() },
          worker: worker?.stats(),
          definitions: o.definitions && { versions: o.definitions.versions, stored: o.definitions.stored, problems: o.definitions.problems },
          eventLoopDelayMs: { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) },
        }),
      },
      o.log,
    )
    await app.listen({ port: settings.httpPort, host: settings.httpHost })
    const address = app.server.address()
    const url = `${o.https ? 'https' : 'http'}://${settings.httpHost}:${typeof address === 'object' && address ? address.port : settings.httpPort}`
    return {
      app,
      url,
      stop: async () => {
        await app.close()
        await unsubscribe()
        loopDelay.disable()
      },
    }
  } catch (err) {
    await unsubscribe()
    loopDelay.disable()
    throw err
  }
}
