import { EventEmitter } from 'node:events'
import { Cluster, Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { RedisClient } from './redis.ts'

/**
 * What this process knows of its Redis: `up`; `down` (no connection, no
 * answer, or loading its data after a restart); `refusing-writes` (answers,
 * but refuses writes: out of memory under `maxmemory-policy noeviction`,
 * `MISCONF` after a failed save on a full disk, a read-only replica).
 */
export type RedisCondition =
  | { status: 'up' }
  | { status: 'down' | 'refusing-writes'; reason: string; since: number }

export interface RedisHealthOptions {
  /** the engine's connection; the probe uses a copy of it */
  redis: RedisClient
  /** the key the probe writes (Keys.healthProbe) */
  probeKey: string
  log: Logger
  /** between two probes while up (default 500 ms) */
  intervalMs?: number
  /** a probe unanswered this long means down (default 500 ms) */
  timeoutMs?: number
}

/** Error replies meaning "Redis works but will not take this write". */
const REFUSALS = /^(OOM|MISCONF|READONLY|NOREPLICAS|NOTENOUGHREPLICAS)\b/

/** A reply error that means Redis refused a write it never carried out (safe to retry). */
export function isWriteRefusal(err: unknown): boolean {
  return err instanceof Error && REFUSALS.test(err.message)
}

/**
 * Watches Redis by writing a probe key every `intervalMs` on a connection
 * of its own without an offline queue, so a dead server shows at once
 * (ECONNREFUSED) instead of after a queued command times out. Today's HTTP
 * reads hang while Redis is gone (issue 15); with this, the API answers 503
 * at once, /health and /ready say why, WebSocket clients get a status
 * message, and ingest holds PUBACKs (src/ingest/backpressure.ts).
 *
 * Ingest reports the refusals its own writes meet (`reportWriteError`), so a
 * full Redis is seen on the first refused event, not on the next probe.
 */
export class RedisHealth {
  private current: RedisCondition = { status: 'up' }
  private readonly events = new EventEmitter()
  private readonly probe: RedisClient
  private timer: NodeJS.Timeout | undefined
  private probing = false
  private stopped = false
  private waiters: Array<() => void> = []

  constructor(private readonly o: RedisHealthOptions) {
    const options = {
      connectionName: 'twin-engine-health',
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      enableAutoPipelining: false,
      // Reconnect soon after a restart: readiness returns as soon as this does.
      retryStrategy: () => 200,
    }
    this.probe = (o.redis instanceof Cluster
      ? o.redis.duplicate(undefined, { enableOfflineQueue: false, clusterRetryStrategy: () => 200, redisOptions: options })
      : (o.redis as Redis).duplicate(options)) as RedisClient
    // Connection errors are what this class reports; the transitions are logged below.
    this.probe.on('error', () => undefined)
    this.probe.on('close', () => this.set({ status: 'down', reason: 'the connection to Redis is closed' }))
    this.probe.on('ready', () => void this.check())
  }

  get condition(): RedisCondition {
    return this.current
  }

  get up(): boolean {
    return this.current.status === 'up'
  }

  /** Starts probing; resolves after the first probe, once the probe's connection is up (or failed to come up). */
  async start(): Promise<void> {
    if (this.probe.status !== 'ready') {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.o.timeoutMs ?? 500)
        function done() {
          clearTimeout(timer)
          resolve()
        }
        this.probe.once('ready', done)
      })
    }
    await this.check()
    this.timer = setInterval(() => void this.check(), this.o.intervalMs ?? 500)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    this.release()
    this.probe.disconnect()
  }

  /** Called on every change of condition. Returns the unsubscribe function. */
  onChange(listener: (condition: RedisCondition, previous: RedisCondition) => void): () => void {
    this.events.on('change', listener)
    return () => this.events.off('change', listener)
  }

  /** Resolves when Redis is up (at once when it is), or when stopped. */
  whenUp(): Promise<void> {
    if (this.up || this.stopped) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  /**
   * A write of the engine failed: a refusal (OOM, MISCONF, …) marks Redis as
   * refusing writes until a probe write passes again. Returns whether it was one.
   */
  reportWriteError(err: unknown): boolean {
    if (!isWriteRefusal(err)) return false
    this.set({ status: 'refusing-writes', reason: firstLine(err) })
    return true
  }

  /** One probe: a small write with a TTL, which needs what ingest needs (a connection and room). */
  private async check(): Promise<void> {
    if (this.probing || this.stopped) return
    this.probing = true
    let timer: NodeJS.Timeout | undefined
    const timeoutMs = this.o.timeoutMs ?? 500
    try {
      await Promise.race([
        this.probe.set(this.o.probeKey, String(Date.now()), 'PX', 10_000),
        new Promise((_, fail) => (timer = setTimeout(() => fail(new Error(`Redis did not answer within ${timeoutMs} ms`)), timeoutMs))),
      ])
      this.set({ status: 'up' })
    } catch (err) {
      if (isWriteRefusal(err)) this.set({ status: 'refusing-writes', reason: firstLine(err) })
      else if (/^LOADING\b/.test((err as Error).message)) this.set({ status: 'down', reason: 'Redis is loading its data after a restart' })
      else this.set({ status: 'down', reason: `Redis does not answer: ${firstLine(err)}` })
    } finally {
      clearTimeout(timer)
      this.probing = false
    }
  }

  private set(next: { status: 'up' } | { status: 'down' | 'refusing-writes'; reason: string }): void {
    const previous = this.current
    if (previous.status === next.status) {
      // Same condition, maybe another wording (the probe and the connection say it
      // differently): keep the outage's start, and neither log nor tell anyone again.
      if (next.status !== 'up' && 'since' in previous) this.current = { ...next, since: previous.since }
      return
    }
    this.current = next.status === 'up' ? next : { ...next, since: Date.now() }
    if (next.status === 'up') {
      this.o.log.info({ after: 'since' in previous ? `${Date.now() - previous.since} ms` : undefined }, 'Redis is available again')
      this.release()
    } else {
      this.o.log.warn({ code: 'TWIN_ERR_REDIS_UNAVAILABLE', redis: next.status, reason: next.reason }, 'Redis is unavailable: API answers 503, ingest holds PUBACKs until it is back')
    }
    this.events.emit('change', this.current, previous)
  }

  private release(): void {
    for (const resolve of this.waiters.splice(0)) resolve()
  }
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 200)
}
