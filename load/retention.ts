/**
 * What input retention and what-if replay cost (ADR 0012), on a throw-away
 * managed redis-server:
 *
 *   retained bytes per input event   MEMORY USAGE (exact, SAMPLES 0) of every shard's retained stream / its entries
 *   snapshot bytes per twin          the same for a base snapshot of every shard's twins, and how long its COPY blocks Redis
 *   replay speed                     twin replay (the library call) of the shipped meter definition against itself
 *
 *   npx tsx load/retention.ts -- --events 100000 --devices 1000
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { pino } from 'pino'
import { Drivers } from '../src/core/drivers.ts'
import { loadTwinRegistry } from '../src/definitions/registry.ts'
import { startManagedRedis } from '../src/embedded/redisServer.ts'
import { ChangeBus } from '../src/feed/changeBus.ts'
import { Ingestor } from '../src/ingest/ingestor.ts'
import { replayRetained } from '../src/jobs/replay.ts'
import { shardRange } from '../src/model/ids.ts'
import { startWorkerRole } from '../src/roles/workerRole.ts'
import { ensureShardCount } from '../src/store/clusterMeta.ts'
import { Keys } from '../src/store/keys.ts'
import { connectRedis, type RedisClient } from '../src/store/redis.ts'
import { readSnapshots, takeSnapshot } from '../src/store/retention.ts'

const options = new Command()
  .option('--events <n>', 'events', '100000')
  .option('--devices <n>', 'meters', '1000')
  .option('--shards <n>', 'shards', '16')
  .parse()
  .opts<{ events: string; devices: string; shards: string }>()
const EVENTS = Number(options.events)
const DEVICES = Number(options.devices)
const log = pino({ level: 'warn' })
const HOUR = 3_600_000

const usage = (redis: RedisClient, key: string) => (redis as unknown as { memory(...a: Array<string | number>): Promise<number | null> }).memory('USAGE', key, 'SAMPLES', 0).then((n) => Number(n ?? 0))

async function main(): Promise<void> {
  const registry = await loadTwinRegistry(join(import.meta.dirname, '../twins'))
  const dataDir = mkdtempSync(join(tmpdir(), 'twin-bench-'))
  const managed = await startManagedRedis({ dataDir, appendfsync: 'everysec' })
  const redis = connectRedis(managed.url, 'bench')
  try {
    const keys = new Keys('bench:')
    const shards = await ensureShardCount(redis, keys, Number(options.shards))
    const bus = new ChangeBus()
    let applied = 0
    bus.onChange(() => applied++)
    const role = await startWorkerRole({
      redis, keys, drivers: new Drivers(registry), bus, clock: { now: () => Date.now() }, log, shards,
      settings: { batchSize: 1000, batchLingerMs: 2, cacheSize: DEVICES * 2, leaseTtlMs: 10_000, historyLength: 10, deadLetterMaxLen: 1000, outboxMaxLen: 100_000, webhookConcurrency: 1 },
      retention: { retainMs: HOUR, maxBytes: 1024 ** 3, snapshotMs: HOUR },
    })
    while (!(await Promise.all(shardRange(shards).map((s) => readSnapshots(redis, keys.shard(s))))).every((r) => r.snapshots.length)) await new Promise((r) => setTimeout(r, 20))
    const ingestor = new Ingestor({ redis, keys, registry, shards, maxPayloadBytes: 65536, deadLetterMaxLen: 1000, log })
    let next = 0
    const lane = async () => {
      while (next < EVENTS) {
        const n = next++
        await ingestor.fromMqtt(`devices/meter/m${n % DEVICES}/reading`, Buffer.from(JSON.stringify({ energyKwh: Math.round(n / DEVICES) / 100, powerW: 1000 + (n % 500) })))
      }
    }
    await Promise.all(Array.from({ length: 200 }, lane))
    while (applied < EVENTS) await new Promise((r) => setTimeout(r, 20))
    await new Promise((r) => setTimeout(r, 500))
    await role.stop()

    let entries = 0
    let inputBytes = 0
    let snapBytes = 0
    let twins = 0
    let copyMs = 0
    for (const s of shardRange(shards)) {
      const k = keys.shard(s)
      entries += await redis.xlen(k.retained)
      inputBytes += await usage(redis, k.retained)
      twins += await redis.hlen(k.twins)
      const t0 = performance.now()
      const snap = await takeSnapshot(redis, k, Date.now() + HOUR)
      copyMs = Math.max(copyMs, performance.now() - t0)
      snapBytes += await usage(redis, k.snapshot(snap!.at))
    }
    console.log(JSON.stringify({ measure: 'retained input', entries, bytes: inputBytes, bytesPerEvent: Math.round(inputBytes / entries) }))
    console.log(JSON.stringify({ measure: 'base snapshot', twins, bytes: snapBytes, bytesPerTwin: Math.round(snapBytes / twins), slowestShardCopyMs: Math.round(copyMs * 10) / 10, twinsPerShard: Math.round(twins / shards) }))

    const replay = await replayRetained({ redis, keys, shards, registry, candidate: registry.get('meter')!, sinceMs: HOUR })
    console.log(JSON.stringify({ measure: 'replay', twins: replay.twins, inputs: replay.inputs, steps: replay.steps, differ: replay.differ, seconds: replay.seconds, stepsPerSecond: replay.stepsPerSecond, inputsPerSecond: Math.round(replay.inputs / replay.seconds) }))
  } finally {
    await redis.quit()
    await managed.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

await main()
