import type { TwinRegistry } from '../definitions/registry.ts'
import type { Ingestor } from '../ingest/ingestor.ts'
import type { ChangeBus } from '../runtime/changeBus.ts'
import type { Keys } from '../store/keys.ts'
import type { RedisClient } from '../store/redis.ts'
import type { TwinStore } from '../store/twinStore.ts'
import type { WsOptions } from './ws/options.ts'

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
  /** live figures for GET /health */
  health(): Record<string, unknown>
  /** WebSocket settings (src/config.ts WS_*); defaults when absent */
  ws?: Partial<WsOptions>
}
