/**
 * Scale-out benchmarks with real processes on this machine:
 *
 *   throughput  - a front process (embedded broker, ingest, api) and 1, then 2
 *                 worker processes; events/s end to end (MQTT publish ->
 *                 WebSocket change), and CPU per process
 *   recovery    - 2 workers under steady traffic; SIGKILL one; time until every
 *                 shard has a live owner again, and until the backlog is drained
 *
 *   npm run bench:scaling -- --events 60000 --lease-ttl-ms 10000
 *
 * Results: JSON on stdout and in load/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Command } from 'commander'
import mqtt, { type MqttClient } from 'mqtt'
import { WsClient } from '../test/support/api.ts'
import { ROOT } from '../test/support/env.ts'
import { LocalCluster } from '../test/support/localCluster.ts'
import { recover } from './scenarios/failover.ts'
import { cpuSeconds } from './lib/procStats.ts'

const options = new Command()
  .option('--events <n>', 'events per throughput run', '60000')
  .option('--devices <n>', 'simulated meters', '1000')
  .option('--lease-ttl-ms <ms>', 'LEASE_TTL_MS of the workers (recovery waits for it)', '10000')
  .option('--rate <n>', 'events/s of steady traffic during the recovery run', '2000')
  .parse()
  .opts<{ events: string; devices: string; leaseTtlMs: string; rate: string }>()
const EVENTS = Number(options.events)
const DEVICES = Number(options.devices)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function reading(n: number): [string, string] {
  return [`devices/meter/bench-${n % DEVICES}/reading`, JSON.stringify({ energyKwh: Math.floor(n / DEVICES) / 100, powerW: 1000 + (n % 500) })]
}

async function startCluster(workers: number): Promise<LocalCluster> {
  // The real twins and rules (LocalCluster defaults to the test fixtures), no demo fleet.
  // RATE_LIMIT_MAX=0: the recovery measurement polls GET /cluster every 25 ms.
  const cluster = new LocalCluster({ TWINS_DIR: join(ROOT, 'twins'), RULES_DIR: join(ROOT, 'rules'), DEMO: '0', RATE_LIMIT_MAX: '0', LEASE_TTL_MS: options.leaseTtlMs, TWIN_CACHE_SIZE: String(DEVICES * 2) })
  await cluster.start(workers)
  return cluster
}

async function throughput(workers: number): Promise<Record<string, unknown>> {
  const cluster = await startCluster(workers)
  try {
    const ws = await WsClient.connect(`ws://127.0.0.1:${cluster.front.httpPort}/ws`)
    // Events applied, from the revisions the changes carry: a client that falls behind gets
    // conflated changes (protocol v1: the latest state of each twin, earlier revisions skipped).
    const revs = new Map<string, number>()
    let changes = 0
    let last = 0
    ws.socket.on('message', (data) => {
      const text = data.toString()
      if (!text.startsWith('{"op":"change"')) return
      const { twin } = JSON.parse(text) as { twin: { id: string; rev: number } }
      changes += twin.rev - (revs.get(twin.id) ?? 0)
      revs.set(twin.id, twin.rev)
      last = performance.now()
    })
    ws.send({ op: 'subscribe', type: 'meter' })
    await ws.next('subscribed')
    const clients = await Promise.all([0, 1, 2, 3].map((i) => mqtt.connectAsync(cluster.front.mqttUrl, { clientId: `bench-${i}` })))
    const pids = [cluster.front.child!.pid!, ...cluster.alive.map((i) => cluster.workers[i]!.child.pid!)]
    const cpu0 = pids.map(cpuSeconds)
    const t0 = performance.now()
    let next = 0
    await Promise.all(clients.map(async (client) => {
      const lane = async () => {
        for (let n = next++; n < EVENTS; n = next++) await client.publishAsync(...reading(n), { qos: 1 })
      }
      await Promise.all(Array.from({ length: 200 }, lane))
    }))
    const deadline = Date.now() + 120_000
    while (changes < EVENTS && Date.now() < deadline) await sleep(20)
    const cpu = pids.map((pid, i) => cpuSeconds(pid) - cpu0[i]!)
    const seconds = (last - t0) / 1000
    ws.close()
    await Promise.all(clients.map((c) => c.endAsync()))
    return {
      workers,
      events: EVENTS,
      applied: changes,
      eventsPerSecond: Math.round(changes / seconds),
      frontCpuMicrosPerEvent: Math.round((cpu[0]! / changes) * 1e6),
      workerCpuMicrosPerEvent: cpu.slice(1).map((c) => Math.round((c / changes) * 1e6)),
    }
  } finally {
    await cluster.stop()
  }
}

async function recovery(): Promise<Record<string, unknown>> {
  const cluster = await startCluster(2)
  let client: MqttClient | undefined
  try {
    client = await mqtt.connectAsync(cluster.front.mqttUrl, { clientId: 'bench-steady' })
    let running = true
    let n = 0
    const perTick = Math.max(1, Math.round(Number(options.rate) / 100))
    const traffic = (async () => {
      while (running) {
        for (let i = 0; i < perTick; i++) client!.publish(...reading(n++), { qos: 1 })
        await sleep(10)
      }
    })()
    await sleep(3000)
    const killedAt = performance.now()
    const ownedAgainMs = await recover(cluster, cluster.alive[0]!)
    let drainedMs = 0
    while (ownedAgainMs && performance.now() - killedAt < 120_000) {
      const status = await cluster.front.get('/cluster')
      if (status?.shards.every((s: { lag: number }) => s.lag < perTick * 2)) {
        drainedMs = performance.now() - killedAt
        break
      }
      await sleep(25)
    }
    running = false
    await traffic
    // null: not within the time allowed (recover(): 60 s; drained: 120 s)
    return { leaseTtlMs: Number(options.leaseTtlMs), rate: Number(options.rate), ownedAgainMs: ownedAgainMs ? Math.round(ownedAgainMs) : null, drainedMs: drainedMs ? Math.round(drainedMs) : null }
  } finally {
    await client?.endAsync()
    await cluster.stop()
  }
}

const results = { date: new Date().toISOString(), throughput: [await throughput(1), await throughput(2)], recovery: await recovery() }
console.log(JSON.stringify(results, null, 2))
mkdirSync(join(ROOT, 'load/results'), { recursive: true })
writeFileSync(join(ROOT, 'load/results', `scaling-${results.date.replace(/[:.]/g, '-')}.json`), JSON.stringify(results, null, 2))
