/**
 * Component benchmarks, to see where end-to-end time goes:
 *
 *   ingest  - Ingestor.fromMqtt into Redis (validation + pipelined XADD), no broker
 *   worker  - a worker draining a pre-filled inbox (read, step, commit), no ingest
 *   step    - the pure twin step alone (TwinDriver.step), no Redis
 *
 *   npm run bench:components -- --events 100000 --devices 1000
 *   npm run bench:components -- --retain     the worker retains its input for replay (ADR 0012)
 *
 * Uses a throw-away managed redis-server under a temp dir. Reports events/s and
 * CPU µs/event for this process and for redis-server.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { pino } from 'pino'
import { Drivers } from '../src/core/drivers.ts'
import { TwinDriver } from '../src/core/twinDriver.ts'
import { loadTwinRegistry } from '../src/definitions/registry.ts'
import { startManagedRedis } from '../src/embedded/redisServer.ts'
import { ChangeBus } from '../src/feed/changeBus.ts'
import { Ingestor } from '../src/ingest/ingestor.ts'
import { startWorkerRole } from '../src/roles/workerRole.ts'
import { ensureShardCount } from '../src/store/clusterMeta.ts'
import { Keys } from '../src/store/keys.ts'
import { connectRedis } from '../src/store/redis.ts'
import { cpuSeconds } from './lib/procStats.ts'

const options = new Command()
  .option('--events <n>', 'events', '100000')
  .option('--devices <n>', 'meters', '1000')
  .option('--shards <n>', 'shards', '64')
  .option('--retain', 'the worker keeps the input it applies for what-if replay (RETAIN_INPUT_MS)')
  .parse()
  .opts<{ events: string; devices: string; shards: string; retain?: boolean }>()
const EVENTS = Number(options.events)
const DEVICES = Number(options.devices)
const SHARDS = Number(options.shards)
const log = pino({ level: 'warn' })

function readingPayload(n: number): string {
  return JSON.stringify({ energyKwh: Math.round(n / DEVICES) / 100, powerW: 1000 + (n % 500) })
}

function report(name: string, seconds: number, nodeCpu: number, redisCpu: number, extra: Record<string, unknown> = {}): void {
  console.log(
    JSON.stringify({
      component: name,
      events: EVENTS,
      eventsPerSecond: Math.round(EVENTS / seconds),
      nodeCpuMicrosPerEvent: Math.round((nodeCpu / EVENTS) * 1e6),
      redisCpuMicrosPerEvent: Math.round((redisCpu / EVENTS) * 1e6),
      ...extra,
    }),
  )
}

async function main(): Promise<void> {
  const registry = await loadTwinRegistry(join(import.meta.dirname, '../twins'))
  const meter = new TwinDriver(registry.get('meter')!)

  // step: the pure machine step on warm twins
  {
    const driver = new TwinDriver(registry.get('meter')!)
    const twins = Array.from({ length: DEVICES }, (_, d) => {
      const r = driver.create(`m${d}`, 0)
      return { snapshot: r.snapshot, record: r.record }
    })
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    for (let n = 0; n < EVENTS; n++) {
      const d = n % DEVICES
      const r = meter.step(twins[d]!, { ...JSON.parse(readingPayload(n)), type: 'reading', at: n })
      twins[d] = { snapshot: r.snapshot, record: r.record }
    }
    const seconds = (performance.now() - t0) / 1000
    const c = process.cpuUsage(c0)
    report('step', seconds, (c.user + c.system) / 1e6, 0)
  }

  const dataDir = mkdtempSync(join(tmpdir(), 'twin-bench-'))
  const managed = await startManagedRedis({ dataDir, appendfsync: 'everysec' })
  const redisPid = Number(readFileSync(join(dataDir, 'redis', 'redis.pid'), 'utf8'))
  const redis = connectRedis(managed.url, 'bench')
  try {
    const keys = new Keys('bench:')
    const shards = await ensureShardCount(redis, keys, SHARDS)
    const ingestor = new Ingestor({ redis, keys, registry, shards, maxPayloadBytes: 65536, deadLetterMaxLen: 1000, log })

    // ingest: what the embedded broker's hook calls, 500 messages in flight
    {
      const r0 = cpuSeconds(redisPid)
      const c0 = process.cpuUsage()
      const t0 = performance.now()
      let next = 0
      const lane = async () => {
        while (next < EVENTS) {
          const n = next++
          await ingestor.fromMqtt(`devices/meter/m${n % DEVICES}/reading`, Buffer.from(readingPayload(n)))
        }
      }
      await Promise.all(Array.from({ length: 500 }, lane))
      const seconds = (performance.now() - t0) / 1000
      const c = process.cpuUsage(c0)
      report('ingest', seconds, (c.user + c.system) / 1e6, cpuSeconds(redisPid) - r0, { deadLetters: ingestor.stats.deadLetters })
    }

    // worker: drain the inbox the ingest run filled
    {
      const bus = new ChangeBus()
      let applied = 0
      bus.onChange(() => applied++)
      const r0 = cpuSeconds(redisPid)
      const c0 = process.cpuUsage()
      const t0 = performance.now()
      const role = await startWorkerRole({
        redis, keys, drivers: new Drivers(registry), bus, clock: { now: () => Date.now() }, log, shards,
        settings: { batchSize: 1000, batchLingerMs: 2, cacheSize: DEVICES * 2, leaseTtlMs: 10_000, historyLength: 10, deadLetterMaxLen: 1000, outboxMaxLen: 100_000, webhookConcurrency: 1 },
        retention: options.retain ? { retainMs: 3_600_000, maxBytes: 1024 ** 3, snapshotMs: 3_600_000 } : undefined,
      })
      while (applied < EVENTS) await new Promise((r) => setTimeout(r, 5))
      const seconds = (performance.now() - t0) / 1000
      const c = process.cpuUsage(c0)
      report('worker', seconds, (c.user + c.system) / 1e6, cpuSeconds(redisPid) - r0, { batches: role.worker.stats.batches, meanBatch: Math.round(EVENTS / role.worker.stats.batches), retain: options.retain === true })
      await role.stop()
    }
  } finally {
    await redis.quit()
    await managed.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

await main()
