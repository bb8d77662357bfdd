import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { IngestStats } from '../ingest/ingestor.ts'
import type { WorkerStats } from '../worker/worker.ts'

/**
 * Prometheus metrics of one engine process (GET /metrics, docs/http.md).
 *
 * Most figures are read when scraped from stats objects the engine keeps
 * anyway (ingestor.stats, worker.stats, the twin cache), so the hot path pays
 * nothing for them. Cluster-wide figures (per-shard lag, pending timers, dead
 * letters by reason) cost a few Redis round trips per shard: they are read at
 * most once per CLUSTER_CACHE_MS whatever the scrape rate, and every API
 * process reports the same values (aggregate them with max, not sum).
 * Its own Registry, never prom-client's global one, so several engines in one
 * process (tests) do not collide.
 */

/** Cluster-wide figures read from Redis. */
export interface ClusterFigures {
  /** unapplied inbox entries per shard */
  lag: number[]
  timersPending: number
  deadLettersByReason: Record<string, number>
}

/** The WebSocket figures metrics read (the API's WsStats has them). */
export interface WsFigures {
  connections: number
  conflations: number
  droppedEvents: number
  closedSlow: number
  closedFlooding: number
  closedNoPong: number
  rateLimited: number
}

export interface MetricsSources {
  ingest?: () => IngestStats
  worker?: () => { stats: WorkerStats; activeTwins: number; ownedShards: number }
  cluster?: () => Promise<ClusterFigures>
  ws?: () => WsFigures
}

export const CLUSTER_CACHE_MS = 5000

/** Commit latency buckets (s): a batch commit is one Lua call, usually around a millisecond. */
const COMMIT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

export class Metrics {
  readonly registry = new Registry()
  private readonly commit: Histogram
  private readonly refused: Counter<'reason'>
  private readonly sources: MetricsSources = {}
  private cached: { at: number; figures: Promise<ClusterFigures | null> } | null = null

  constructor(options: { now?: () => number } = {}) {
    const now = options.now ?? Date.now
    const r = this.registry
    collectDefaultMetrics({ register: r })
    const self = this
    const cluster = async (): Promise<ClusterFigures | null> => {
      const read = self.sources.cluster
      if (!read) return null
      if (!self.cached || now() - self.cached.at >= CLUSTER_CACHE_MS) {
        self.cached = { at: now(), figures: read().catch(() => null) }
      }
      return self.cached.figures
    }
    // Counters fed from totals kept elsewhere: reset, then set to the total.
    const total = (counter: Counter<string>, value: number | undefined, labels?: Record<string, string>) => {
      if (value === undefined) return
      if (labels) counter.inc(labels, value)
      else counter.inc(value)
    }

    new Counter({
      name: 'twin_ingest_events_total', help: 'Device events accepted into shard inboxes by this process', registers: [r],
      collect() { this.reset(); total(this, self.sources.ingest?.().accepted) },
    })
    new Counter({
      name: 'twin_ingest_dead_letters_total', help: 'Device events this process refused at ingest (dead-lettered)', registers: [r],
      collect() { this.reset(); total(this, self.sources.ingest?.().deadLetters) },
    })
    new Counter({
      name: 'twin_events_applied_total', help: 'Inbox entries this process\'s worker applied', registers: [r],
      collect() { this.reset(); total(this, self.sources.worker?.().stats.applied) },
    })
    new Counter({
      name: 'twin_dead_letters_total', help: 'Dead letters ever recorded, cluster-wide, by reason code', labelNames: ['reason'], registers: [r],
      async collect() {
        const figures = await cluster()
        if (!figures) return
        this.reset()
        for (const [reason, n] of Object.entries(figures.deadLettersByReason)) total(this, n, { reason })
      },
    })
    new Gauge({
      name: 'twin_shard_lag_events', help: 'Inbox entries not yet applied, per shard (cluster-wide)', labelNames: ['shard'], registers: [r],
      async collect() {
        const figures = await cluster()
        if (!figures) return
        this.reset()
        figures.lag.forEach((lag, shard) => this.set({ shard: String(shard) }, lag))
      },
    })
    new Gauge({
      name: 'twin_timers_pending', help: 'Durable twin timers waiting to fire (cluster-wide)', registers: [r],
      async collect() {
        const figures = await cluster()
        if (figures) this.set(figures.timersPending)
      },
    })
    new Gauge({
      name: 'twin_active_twins', help: 'Twins in this worker\'s memory (LRU cache)', registers: [r],
      collect() { const w = self.sources.worker?.(); if (w) this.set(w.activeTwins) },
    })
    new Gauge({
      name: 'twin_owned_shards', help: 'Shards this worker owns', registers: [r],
      collect() { const w = self.sources.worker?.(); if (w) this.set(w.ownedShards) },
    })
    this.commit = new Histogram({
      name: 'twin_commit_seconds', help: 'Time of one worker step\'s atomic commits (all shards of the step, in parallel)', buckets: COMMIT_BUCKETS, registers: [r],
    })
    new Gauge({
      name: 'twin_ws_clients', help: 'Open WebSocket connections', registers: [r],
      collect() { const ws = self.sources.ws?.(); if (ws) this.set(ws.connections) },
    })
    new Counter({
      name: 'twin_ws_conflated_total', help: 'Times a WebSocket client fell behind (over WS_HIGH_WATER_BYTES unsent) and its changes started being conflated', registers: [r],
      collect() { this.reset(); total(this, self.sources.ws?.().conflations) },
    })
    new Counter({
      name: 'twin_ws_dropped_total', help: 'Derived events dropped for slow WebSocket clients', registers: [r],
      collect() { this.reset(); total(this, self.sources.ws?.().droppedEvents) },
    })
    new Counter({
      name: 'twin_ws_closed_slow_total', help: 'WebSocket clients closed for falling too far behind', registers: [r],
      collect() { this.reset(); total(this, self.sources.ws?.().closedSlow) },
    })
    new Counter({
      name: 'twin_ws_closed_flooding_total', help: 'WebSocket clients closed for flooding (10x over the input rate limit, code 4029)', registers: [r],
      collect() { this.reset(); total(this, self.sources.ws?.().closedFlooding) },
    })
    new Counter({
      name: 'twin_ws_closed_no_pong_total', help: 'WebSocket clients dropped for answering no ping for 2 heartbeats', registers: [r],
      collect() { this.reset(); total(this, self.sources.ws?.().closedNoPong) },
    })
    new Counter({
      name: 'twin_ws_rate_limited_total', help: 'WebSocket client messages refused by the input rate limit', registers: [r],
      collect() { this.reset(); total(this, self.sources.ws?.().rateLimited) },
    })
    this.refused = new Counter({
      name: 'twin_mqtt_refused_total', help: 'MQTT connections, publishes and subscriptions the embedded broker refused', labelNames: ['reason'], registers: [r],
    })
  }

  /** Where the scrape-time figures come from; may be called again as roles start. */
  use(sources: MetricsSources): this {
    Object.assign(this.sources, sources)
    return this
  }

  /** The worker's commit timing (WorkerOptions.onCommit). */
  readonly observeCommit = (seconds: number): void => {
    this.commit.observe(seconds)
  }

  /** The embedded broker refused something (bad login, foreign topic). */
  readonly countRefused = (reason: string): void => {
    this.refused.inc({ reason })
  }

  get contentType(): string {
    return this.registry.contentType
  }

  scrape(): Promise<string> {
    return this.registry.metrics()
  }
}
