import { Counter, Gauge } from 'prom-client'
import type { IngestGate } from '../ingest/backpressure.ts'
import type { Metrics } from './metrics.ts'
import type { RedisHealth } from '../store/redisHealth.ts'

/**
 * Metrics of the fault handling (issue 15), read when scraped: whether Redis
 * is usable, PUBACKs held, shards over INBOX_MAX_LENGTH, restarts of the
 * managed redis-server. Alert on twin_redis_up == 0 and on held events.
 */
export function registerFaultMetrics(metrics: Metrics, o: { health: RedisHealth; gate: IngestGate; redisRestarts: () => number }): void {
  const r = metrics.registry
  new Gauge({
    name: 'twin_redis_up', help: '1 when Redis answers and takes writes, else 0', registers: [r],
    collect() { this.set(o.health.up ? 1 : 0) },
  })
  new Gauge({
    name: 'twin_redis_refusing_writes', help: '1 while Redis answers but refuses writes (OOM under noeviction, MISCONF)', registers: [r],
    collect() { this.set(o.health.condition.status === 'refusing-writes' ? 1 : 0) },
  })
  new Gauge({
    name: 'twin_ingest_held_events', help: 'Device events whose PUBACK ingest holds now (Redis away or inbox full)', registers: [r],
    collect() { this.set(o.gate.stats.held) },
  })
  new Counter({
    name: 'twin_ingest_held_events_total', help: 'Device events whose PUBACK ingest ever had to hold', registers: [r],
    collect() { this.reset(); this.inc(o.gate.stats.heldTotal) },
  })
  new Gauge({
    name: 'twin_inbox_full_shards', help: 'Shards whose inbox is over INBOX_MAX_LENGTH now', registers: [r],
    collect() { this.set(o.gate.stats.fullShards.length) },
  })
  new Counter({
    name: 'twin_redis_restarts_total', help: 'Restarts of the managed redis-server by this process', registers: [r],
    collect() { this.reset(); this.inc(o.redisRestarts()) },
  })
}
