import type { ApiAuth } from './auth.ts'
import type { WsOptions } from './ws/options.ts'
import type { TwinRegistry } from '../definitions/registry.ts'
import type { Webhook } from '../effects/webhookConfig.ts'
import type { ChangeBus } from '../feed/changeBus.ts'
import type { Ingestor } from '../ingest/ingestor.ts'
import type { Metrics } from '../observability/metrics.ts'
import type { RedisHealth } from '../store/redisHealth.ts'
import type { Keys } from '../store/keys.ts'
import type { RedisClient } from '../store/redis.ts'
import type { TwinStore } from '../store/twinStore.ts'

/** What the HTTP and WebSocket handlers need from the engine. */
export interface ApiContext {
  redis: RedisClient
  keys: Keys
  shards: number
  registry: TwinRegistry
  store: TwinStore
  ingestor: Ingestor
  bus: ChangeBus
  maxPayloadBytes: number
  /** workers silent for longer are not live (GET /cluster) */
  leaseTtlMs: number
  /** who may do what (src/api/auth.ts); required so that every caller chooses tokens or open access */
  auth: ApiAuth
  /** HTTP requests per token (or address) per window; absent or max 0: no limit */
  rateLimit?: { max: number; windowMs: number }
  /** live figures for GET /health */
  health(): Record<string, unknown>
  /** GET /ready: why this process is not ready (empty when it is); absent: ready when Redis answers */
  notReady?(): Promise<string[]>
  /** GET /health: what does not work now (Redis, broker links); empty or absent: all works */
  problems?(): string[]
  /** Redis as this process sees it: 503 at once while it is away, WebSocket status messages (src/api/redisGate.ts) */
  redisHealth?: RedisHealth
  /** GET /metrics; absent: 404 */
  metrics?: Metrics
  /** WEBHOOKS_FILE, for the URLs GET /effects/failed shows; absent: none */
  webhooks?: readonly Webhook[]
  /** serve HTTPS (and WSS) with this certificate and key; absent: plain HTTP */
  https?: { cert: Buffer; key: Buffer }
  /** WebSocket settings (src/config.ts WS_*); defaults when absent */
  ws?: Partial<WsOptions>
}
