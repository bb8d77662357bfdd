/**
 * What migrating stored twins to a new definition version costs (ADR 0013),
 * on a throw-away managed redis-server, with the definitions of
 * load/lifecycle (v1 -> v2: a state renamed with its pending timer, a context
 * field added, checked by a contextSchema):
 *
 *   seed     N twins stored at v1 by the engine's own ingest and worker role
 *            (in this process), one in 10 with a pending timer
 *   dry run  `twin migrate --dry-run --json` with the v2 definitions: the CLI,
 *            a process of its own
 *   startup  the startup check of v2 against the stored twins (the engine's
 *            checkStoredDefinitions, in this process)
 *   eager    `twin migrate` (CLI process) through a worker process (`twin
 *            start`, TWIN_ROLES=worker, v2): the BullMQ job queues a `$migrate`
 *            inbox entry per twin, the worker applies them in its fenced
 *            commits; then every stored record is read back and counted
 *   lazy     one event to each of M twins stored at v1, drained by a v2
 *            worker role (each twin migrated as it is loaded), against the
 *            same event to the same twins once at v2, each drain by a fresh
 *            worker (empty cache) in this process
 *
 *   npm run bench:migrate                     # 100,000 twins
 *   npm run bench:migrate -- --twins 10000 --lazy 5000
 *
 * Exits 1 when a count read back differs from what was stored.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { pino } from 'pino'
import { Drivers } from '../src/core/drivers.ts'
import { loadTwinRegistry, type TwinRegistry } from '../src/definitions/registry.ts'
import { startEmbeddedBroker } from '../src/embedded/broker.ts'
import { startManagedRedis } from '../src/embedded/redisServer.ts'
import { ChangeBus } from '../src/feed/changeBus.ts'
import { Ingestor } from '../src/ingest/ingestor.ts'
import { checkStoredDefinitions } from '../src/jobs/definitionCheck.ts'
import { shardRange } from '../src/model/ids.ts'
import { startWorkerRole } from '../src/roles/workerRole.ts'
import { ensureShardCount } from '../src/store/clusterMeta.ts'
import { Keys } from '../src/store/keys.ts'
import { connectRedis, type RedisClient } from '../src/store/redis.ts'
import { readCounts } from '../src/store/stateCounts.ts'
import { decodeRecord } from '../src/store/twinRecords.ts'
import { readProc } from './lib/procStats.ts'

const options = new Command()
  .option('--twins <n>', 'twins stored at v1 for the dry run and the eager migration', '100000')
  .option('--lazy <n>', 'twins for the lazy migration (0: skip it)', '20000')
  .option('--shards <n>', 'shards', '64')
  .parse()
  .opts<{ twins: string; lazy: string; shards: string }>()
const TWINS = Number(options.twins)
const LAZY = Number(options.lazy)
const SHARDS = Number(options.shards)
/** One twin in FILL_EVERY is left filling, with its timer pending (renamed by the migration). */
const FILL_EVERY = 10
/** No phase may run longer (a stuck run stops instead of hanging). */
const PHASE_LIMIT_MS = 10 * 60_000

const root = join(import.meta.dirname, '..')
const V1 = join(import.meta.dirname, 'lifecycle/v1')
const V2 = join(import.meta.dirname, 'lifecycle/v2')
// A folder that does not exist: no rules (the registry reads a missing rules folder as none).
const NO_RULES = join(import.meta.dirname, 'lifecycle/no-rules')
const log = pino({ level: 'warn' })
const WORKER_SETTINGS = { batchSize: 1000, batchLingerMs: 2, leaseTtlMs: 10_000, historyLength: 10, deadLetterMaxLen: 1000, outboxMaxLen: 100_000, webhookConcurrency: 1 }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const round = (n: number, digits = 0) => Math.round(n * 10 ** digits) / 10 ** digits
const cpuOf = (pid: number) => readProc(pid)?.cpuSeconds ?? 0
const fillsOf = (n: number) => Math.ceil(n / FILL_EVERY)
const print = (o: object) => console.log(JSON.stringify(o))
const failures: string[] = []
/** JSON with object keys sorted: equal values, equal text. */
const canonical = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x))
const expectEqual = (what: string, got: unknown, want: unknown) => {
  if (canonical(got) !== canonical(want)) failures.push(`${what}: got ${canonical(got)}, expected ${canonical(want)}`)
}

async function until(what: string, done: () => boolean | Promise<boolean>, everyMs = 20): Promise<void> {
  const deadline = performance.now() + PHASE_LIMIT_MS
  while (!(await done())) {
    if (performance.now() > deadline) throw new Error(`gave up waiting for ${what}`)
    await sleep(everyMs)
  }
}

/** Sends one event to twins t0..t(n-1) through the engine's ingest (validated, into the shard inboxes). */
async function fill(ingestor: Ingestor, n: number, event: (i: number) => [string, object] | null): Promise<number> {
  let sent = 0
  const pending: Array<Promise<unknown>> = []
  for (let i = 0; i < n; i++) {
    const e = event(i)
    if (!e) continue
    pending.push(ingestor.fromApi('tank', `t${i}`, e[0], JSON.stringify(e[1])))
    sent++
    if (pending.length >= 2000) await Promise.all(pending.splice(0))
  }
  await Promise.all(pending)
  return sent
}

/** Runs a worker role (in this process) over what the inboxes hold until `changes` changes are applied; its wall time and CPU. */
async function drain(redis: RedisClient, keys: Keys, registry: TwinRegistry, changes: number, redisPid: number): Promise<{ seconds: number; nodeCpu: number; redisCpu: number }> {
  const bus = new ChangeBus()
  let seen = 0
  bus.onChange(() => seen++)
  const r0 = cpuOf(redisPid)
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const role = await startWorkerRole({
    redis, keys, drivers: new Drivers(registry), bus, clock: { now: () => Date.now() }, log, shards: SHARDS,
    settings: { ...WORKER_SETTINGS, cacheSize: Math.max(changes, 1000) * 2 },
  })
  try {
    await until(`${changes} changes applied`, () => seen >= changes, 5)
    const seconds = (performance.now() - t0) / 1000
    const c = process.cpuUsage(c0)
    return { seconds, nodeCpu: (c.user + c.system) / 1e6, redisCpu: cpuOf(redisPid) - r0 }
  } finally {
    await role.stop()
  }
}

/** Stores twins t0..t(n-1) at v1: an `inc` each, one in FILL_EVERY then filling (a pending timer). */
async function seed(redis: RedisClient, keys: Keys, n: number, v1: TwinRegistry, redisPid: number): Promise<number> {
  const t0 = performance.now()
  const ingestor = new Ingestor({ redis, keys, registry: v1, shards: SHARDS, maxPayloadBytes: 65536, deadLetterMaxLen: 1000, log })
  const sent = (await fill(ingestor, n, () => ['inc', { seq: 1 }])) + (await fill(ingestor, n, (i) => (i % FILL_EVERY === 0 ? ['fill', {}] : null)))
  await drain(redis, keys, v1, sent, redisPid)
  return (performance.now() - t0) / 1000
}

/** Every stored record of every shard, read back: twins per stored version, per state, and how many have the v2 context. */
async function readBack(redis: RedisClient, keys: Keys): Promise<{ versions: Record<string, number>; states: Record<string, number>; withUnit: number; counts: number[]; timers: Record<string, number>; deadLetters: number }> {
  const versions: Record<string, number> = {}
  const states: Record<string, number> = {}
  const timers: Record<string, number> = {}
  const counts: number[] = []
  let withUnit = 0
  let deadLetters = 0
  for (const shard of shardRange(SHARDS)) {
    const k = keys.shard(shard)
    let cursor = '0'
    do {
      const [next, flat] = await redis.hscan(k.twins, cursor, 'COUNT', 1000)
      for (let i = 1; i < flat.length; i += 2) {
        const record = decodeRecord(flat[i]!)
        versions[record.d] = (versions[record.d] ?? 0) + 1
        states[String(record.v)] = (states[String(record.v)] ?? 0) + 1
        const context = record.c as { unit?: string; count: number }
        if (context.unit === 'l') withUnit++
        counts[context.count] = (counts[context.count] ?? 0) + 1
      }
      cursor = next
    } while (cursor !== '0')
    for (const member of await redis.zrange(k.timers, '0', '-1')) {
      const timer = member.slice(member.indexOf('|') + 1)
      timers[timer] = (timers[timer] ?? 0) + 1
    }
    deadLetters += await redis.xlen(k.dead)
  }
  return { versions, states, withUnit, counts, timers, deadLetters }
}

/** A `twin …` command as its own process: its output and wall time; `onMark` runs when its output first holds `mark`. */
function twin(args: string[], env: Record<string, string>, mark?: { text: string; onMark(): void }): Promise<{ code: number | null; stdout: string; stderr: string; seconds: number; markSeconds?: number }> {
  const t0 = performance.now()
  const child = spawn(process.execPath, [join(root, 'bin/twin.js'), ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  let markSeconds: number | undefined
  child.stdout.on('data', (d: Buffer) => {
    stdout += d
    if (mark && markSeconds === undefined && stdout.includes(mark.text)) {
      markSeconds = (performance.now() - t0) / 1000
      mark.onMark()
    }
  })
  child.stderr.on('data', (d: Buffer) => (stderr += d))
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr, seconds: (performance.now() - t0) / 1000, markSeconds })))
}

/** A worker process on the data set (`twin start`, TWIN_ROLES=worker), its log kept. */
function startWorkerProcess(env: Record<string, string>): { pid: number; log: () => string; stop(): Promise<void> } {
  const child = spawn(process.execPath, [join(root, 'bin/twin.js'), 'start'], { cwd: root, env: { ...process.env, TWIN_ROLES: 'worker', HTTP_PORT: '0', LOG_LEVEL: 'info', LOG_FORMAT: 'json', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout!.on('data', (d: Buffer) => (output += d))
  child.stderr!.on('data', (d: Buffer) => (output += d))
  const exited = new Promise((r) => child.on('exit', r))
  return {
    pid: child.pid!,
    log: () => output,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}

function machine() {
  const [one, five] = loadavg()
  return { cores: cpus().length, cpu: cpus()[0]?.model.trim(), loadAverage1m: round(one!, 2), loadAverage5m: round(five!, 2) }
}

async function main(): Promise<void> {
  const started = performance.now()
  const [v1, v2] = await Promise.all([loadTwinRegistry(V1, NO_RULES), loadTwinRegistry(V2, NO_RULES)])
  const dataDir = mkdtempSync(join(tmpdir(), 'twin-bench-migrate-'))
  const managed = await startManagedRedis({ dataDir, appendfsync: 'everysec' })
  const redisPid = Number(readFileSync(join(dataDir, 'redis', 'redis.pid'), 'utf8'))
  const redis = connectRedis(managed.url, 'bench')
  const broker = await startEmbeddedBroker({ port: 0 })
  try {
    print({ measure: 'machine, at start', ...machine(), twins: TWINS, lazyTwins: LAZY, shards: SHARDS })
    const keys = new Keys('bench:')
    await ensureShardCount(redis, keys, SHARDS)
    const fills = fillsOf(TWINS)

    // Seed: N twins at v1, by the engine's own ingest and worker role.
    const seedSeconds = await seed(redis, keys, TWINS, v1, redisPid)
    const seeded = (await readCounts(redis, keys, SHARDS, 'tank')).tank
    expectEqual('seeded versions (counts index)', seeded?.versions, { 1: TWINS })
    print({ measure: 'seed', twins: TWINS, filling: fills, seconds: round(seedSeconds, 1), twinsPerSecond: round(TWINS / seedSeconds) })

    const env = { REDIS_URL: managed.url, KEY_PREFIX: keys.prefix, SHARDS: String(SHARDS), TWINS_DIR: V2, RULES_DIR: NO_RULES, LOG_LEVEL: 'warn' }

    // (a) The dry run: the CLI walks every stored twin and migrates it in memory.
    const dry = await twin(['migrate', '--dry-run', '--json'], env)
    if (dry.code !== 0) throw new Error(`twin migrate --dry-run exited ${dry.code}: ${dry.stderr}`)
    const report = JSON.parse(dry.stdout) as { scanned: number; seconds: number; types: Record<string, { current: number; wouldMigrate: Record<string, number>; wouldFail: number }> }
    expectEqual('dry run: scanned', report.scanned, TWINS)
    expectEqual('dry run: tank', { current: report.types.tank?.current, wouldMigrate: report.types.tank?.wouldMigrate, wouldFail: report.types.tank?.wouldFail }, { current: 0, wouldMigrate: { 1: TWINS }, wouldFail: 0 })
    print({
      measure: 'twin migrate --dry-run', twins: report.scanned, scanSeconds: report.seconds, twinsPerSecond: round(report.scanned / report.seconds),
      processWallSeconds: round(dry.seconds, 2), twinsPerSecondWithStartup: round(report.scanned / dry.seconds),
    })

    // The startup check of the v2 definitions against the stored twins: exact from the version index, plus a bounded sample.
    const c0 = performance.now()
    const check = await checkStoredDefinitions(redis, keys, SHARDS, new Drivers(v2))
    print({ measure: 'startup check', twins: TWINS, milliseconds: round(performance.now() - c0, 1), stored: check.stored, sampled: check.sample.checked, problems: check.problems })

    // (b) The eager migration: twin migrate's BullMQ job, run by a worker process with v2, applied in its fenced commits.
    const worker = startWorkerProcess({ ...env, LOG_LEVEL: 'info', MQTT_URL: `mqtt://127.0.0.1:${broker.port}`, MQTT_PROTOCOL: '4' })
    try {
      await until('the worker process to own every shard', async () => (await Promise.all(shardRange(SHARDS).map((s) => redis.get(keys.shard(s).lease)))).every((o) => o !== null), 100)
      const startupLine = worker.log().split('\n').find((l) => l.includes('definitions checked against the stored twins') || l.includes('cannot handle some stored twins'))
      // The report's first line ends the CLI's own pass over the stored twins: it enqueues the job next.
      let atMark = { worker: 0, redis: 0 }
      const result = await twin(['migrate'], env, { text: 'stored twins in', onMark: () => (atMark = { worker: cpuOf(worker.pid), redis: cpuOf(redisPid) }) })
      const workerCpu = cpuOf(worker.pid) - atMark.worker
      const redisCpu = cpuOf(redisPid) - atMark.redis
      if (result.code !== 0) throw new Error(`twin migrate exited ${result.code}: ${result.stderr}`)
      const last = result.stdout.trim().split('\n').at(-1) ?? ''
      const jobSeconds = result.seconds - (result.markSeconds ?? 0)
      print({
        measure: 'twin migrate (eager, through the worker process)', twins: TWINS,
        wallSeconds: round(result.seconds, 2), twinsPerSecondEndToEnd: round(TWINS / result.seconds),
        startAndReportSeconds: round(result.markSeconds ?? 0, 2), jobSeconds: round(jobSeconds, 2), twinsPerSecond: round(TWINS / jobSeconds),
        workerCpuMicrosPerTwin: round((workerCpu / TWINS) * 1e6), redisCpuMicrosPerTwin: round((redisCpu / TWINS) * 1e6),
        cli: last,
      })
      if (startupLine) {
        const l = JSON.parse(startupLine) as { msg: string; stored?: unknown; problems?: unknown; sampled?: number }
        print({ measure: 'worker process startup log', msg: l.msg, stored: l.stored, sampled: l.sampled, problems: l.problems })
      }
    } finally {
      await worker.stop()
    }
    // Read back every stored record: the counts are checked, not assumed.
    const after = await readBack(redis, keys)
    const counted = (await readCounts(redis, keys, SHARDS, 'tank')).tank
    expectEqual('after twin migrate: stored versions (records)', after.versions, { 2: TWINS })
    expectEqual('after twin migrate: stored versions (counts index)', counted?.versions, { 2: TWINS })
    expectEqual('after twin migrate: states', after.states, { idle: TWINS - fills, loading: fills })
    expectEqual('after twin migrate: records with unit "l"', after.withUnit, TWINS)
    expectEqual('after twin migrate: pending timers', after.timers, { 'xstate.after.86400000.tank.loading': fills })
    expectEqual('after twin migrate: dead letters', after.deadLetters, 0)
    print({ measure: 'read back after twin migrate', versions: after.versions, states: after.states, timers: after.timers, deadLetters: after.deadLetters })

    // (c) Lazy migration: an event to each twin stored at v1, against the same event to the same twins at v2.
    if (LAZY > 0) {
      const lazyKeys = new Keys('lazy:')
      await ensureShardCount(redis, lazyKeys, SHARDS)
      await seed(redis, lazyKeys, LAZY, v1, redisPid)
      const ingestor = new Ingestor({ redis, keys: lazyKeys, registry: v2, shards: SHARDS, maxPayloadBytes: 65536, deadLetterMaxLen: 1000, log })
      await fill(ingestor, LAZY, () => ['inc', { seq: 2 }])
      // Each twin: the migration (a change of its own) and the event.
      const lazy = await drain(redis, lazyKeys, v2, 2 * LAZY, redisPid)
      const migrated = await readBack(redis, lazyKeys)
      expectEqual('lazy: stored versions', migrated.versions, { 2: LAZY })
      expectEqual('lazy: counts after one event', migrated.counts.flatMap((n, count) => (n ? [[count, n]] : [])), [[2, LAZY]])
      await fill(ingestor, LAZY, () => ['inc', { seq: 3 }])
      const current = await drain(redis, lazyKeys, v2, LAZY, redisPid)
      const reference = await readBack(redis, lazyKeys)
      expectEqual('reference: counts after the second event', reference.counts.flatMap((n, count) => (n ? [[count, n]] : [])), [[3, LAZY]])
      const per = (r: { seconds: number; nodeCpu: number; redisCpu: number }) => ({
        eventsPerSecond: round(LAZY / r.seconds), nodeCpuMicrosPerEvent: round((r.nodeCpu / LAZY) * 1e6), redisCpuMicrosPerEvent: round((r.redisCpu / LAZY) * 1e6),
      })
      const a = per(lazy)
      const b = per(current)
      print({ measure: 'lazy migration: one event per twin stored at v1 (migrated on load)', twins: LAZY, ...a })
      print({ measure: 'reference: the same event per twin already at v2', twins: LAZY, ...b })
      print({ measure: 'lazy migration cost', nodeCpuRatio: round(a.nodeCpuMicrosPerEvent / b.nodeCpuMicrosPerEvent, 2), extraNodeCpuMicrosPerTwin: a.nodeCpuMicrosPerEvent - b.nodeCpuMicrosPerEvent, extraRedisCpuMicrosPerTwin: a.redisCpuMicrosPerEvent - b.redisCpuMicrosPerEvent })
    }
    print({ measure: 'machine, at end', ...machine(), benchmarkSeconds: round((performance.now() - started) / 1000) })
  } finally {
    await broker.close()
    await redis.quit()
    await managed.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
  if (failures.length) {
    for (const f of failures) console.error(`❌ ${f}`)
    process.exitCode = 1
  } else {
    console.log('✅ every count read back is what was stored and migrated')
  }
}

await main()
