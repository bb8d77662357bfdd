/**
 * What rules cost: a worker and its outbox relay draining chargers'
 * meterValues, once with every charger in a site (so `site-charging-load`,
 * which takes every charger change, gets one feed and one rule step per
 * event) and once, as the reference measured in the same run, with no
 * attributes (no rule is fed). Both from the same pre-filled inboxes.
 *
 *   npm run bench:rules -- --events 50000 --chargers 1000 --per-site 10
 *
 * Uses a throw-away managed redis-server and an in-process aedes broker for
 * the relay; the worker and its relay are the engine's own worker role. Reports events/s, CPU µs per source event of this process and of
 * Redis, and the ratio of the two runs.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { pino } from 'pino'
import { Drivers } from '../src/core/drivers.ts'
import { loadTwinRegistry } from '../src/definitions/registry.ts'
import { startEmbeddedBroker } from '../src/embedded/broker.ts'
import { startManagedRedis } from '../src/embedded/redisServer.ts'
import { ChangeBus } from '../src/feed/changeBus.ts'
import { Ingestor } from '../src/ingest/ingestor.ts'
import { startWorkerRole } from '../src/roles/workerRole.ts'
import { ensureShardCount } from '../src/store/clusterMeta.ts'
import { Keys } from '../src/store/keys.ts'
import { connectRedis } from '../src/store/redis.ts'
import { cpuSeconds } from './lib/procStats.ts'

const options = new Command()
  .option('--events <n>', 'meterValues events', '50000')
  .option('--chargers <n>', 'chargers', '1000')
  .option('--per-site <n>', 'chargers per site', '10')
  .option('--shards <n>', 'shards', '64')
  .parse()
  .opts<{ events: string; chargers: string; perSite: string; shards: string }>()
const EVENTS = Number(options.events)
const CHARGERS = Number(options.chargers)
const PER_SITE = Number(options.perSite)
const log = pino({ level: 'warn' })
const root = join(import.meta.dirname, '..')

interface Run {
  run: string
  eventsPerSecond: number
  nodeCpuMicrosPerEvent: number
  redisCpuMicrosPerEvent: number
  ruleSteps: number
}

async function run(name: string, withSites: boolean): Promise<Run> {
  const registry = await loadTwinRegistry(join(root, 'twins'), join(root, 'rules'))
  const dataDir = mkdtempSync(join(tmpdir(), 'twin-bench-rules-'))
  const managed = await startManagedRedis({ dataDir, appendfsync: 'everysec' })
  const redisPid = Number(readFileSync(join(dataDir, 'redis', 'redis.pid'), 'utf8'))
  const redis = connectRedis(managed.url, 'bench')
  const broker = await startEmbeddedBroker({ port: 0 })
  try {
    const keys = new Keys('bench:')
    const shards = await ensureShardCount(redis, keys, Number(options.shards))
    const ingestor = new Ingestor({ redis, keys, registry, shards, maxPayloadBytes: 65536, deadLetterMaxLen: 1000, log })
    // Fill the inboxes first: each charger charging, then its meter values.
    const send = (id: string, event: string, payload: object) => ingestor.fromApi('charger', id, event, JSON.stringify(payload))
    const setup: Array<Promise<unknown>> = []
    for (let c = 0; c < CHARGERS; c++) {
      if (withSites) setup.push(send(`c${c}`, 'attributes', { site: `s${Math.floor(c / PER_SITE)}` }))
      setup.push(send(`c${c}`, 'statusNotification', { status: 'Charging' }))
    }
    await Promise.all(setup)
    const fill: Array<Promise<unknown>> = []
    for (let n = 0; n < EVENTS; n++) {
      fill.push(send(`c${n % CHARGERS}`, 'meterValues', { energyWh: 1000 + n, powerW: 3000 + (n % 4000) }))
      if (fill.length >= 2000) await Promise.all(fill.splice(0))
    }
    await Promise.all(fill)
    const sourceEvents = EVENTS + CHARGERS * (withSites ? 2 : 1)

    const bus = new ChangeBus()
    let twinSteps = 0
    let ruleSteps = 0
    bus.onChange((v) => (v.type === 'charger' ? twinSteps++ : ruleSteps++))
    const r0 = cpuSeconds(redisPid)
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    const role = await startWorkerRole({
      redis, keys, drivers: new Drivers(registry), bus, clock: { now: () => Date.now() }, log, shards,
      settings: { batchSize: 1000, batchLingerMs: 2, cacheSize: CHARGERS * 2, leaseTtlMs: 10_000, historyLength: 10, deadLetterMaxLen: 1000, outboxMaxLen: 100_000, webhookConcurrency: 1 },
      mqtt: { url: `mqtt://127.0.0.1:${broker.port}` },
    })
    // Done when every source event is applied and (with sites) every rule feed too: one per charger change.
    const ruleTarget = withSites ? sourceEvents : 0
    while (twinSteps < sourceEvents || ruleSteps < ruleTarget) await new Promise((r) => setTimeout(r, 5))
    const seconds = (performance.now() - t0) / 1000
    const c = process.cpuUsage(c0)
    const redisCpu = cpuSeconds(redisPid) - r0
    await role.stop()
    return {
      run: name,
      eventsPerSecond: Math.round(sourceEvents / seconds),
      nodeCpuMicrosPerEvent: Math.round(((c.user + c.system) / 1e6 / sourceEvents) * 1e6),
      redisCpuMicrosPerEvent: Math.round((redisCpu / sourceEvents) * 1e6),
      ruleSteps,
    }
  } finally {
    await broker.close()
    await redis.quit()
    await managed.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

const reference = await run('no rule fed (reference)', false)
console.log(JSON.stringify(reference))
const rules = await run('site-charging-load fed by every charger change', true)
console.log(JSON.stringify(rules))
const nodeCpuRatio = Math.round((rules.nodeCpuMicrosPerEvent / reference.nodeCpuMicrosPerEvent) * 100) / 100
console.log(JSON.stringify({
  throughputRatio: Math.round((rules.eventsPerSecond / reference.eventsPerSecond) * 100) / 100,
  nodeCpuRatio,
}))
// Each source event of the rules run also feeds the rule once: what the feed adds, in device events' CPU.
const feedCost = Math.round((nodeCpuRatio - 1) * 100) / 100
console.log(`${feedCost <= 0.5 ? '✅' : '❌'} a rule feed's CPU vs a device event's: ${feedCost}× (goal ≤ 0.5×)`)
