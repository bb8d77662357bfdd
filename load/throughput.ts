/**
 * Single-process end-to-end throughput: the engine runs as a child process
 * (embedded broker, managed redis-server, real twins); this process publishes
 * meter readings over MQTT QoS 1 and counts the changes arriving on a
 * WebSocket subscription. Throughput = events / (last change - first publish).
 *
 *   npm run bench:throughput -- --events 100000 --devices 1000
 *
 * A first cut for the core engine; the full load tool (scenarios, HDR
 * latency, references) is load/'s own issue.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Command } from 'commander'
import mqtt from 'mqtt'
import { EngineProcess } from '../test/support/engineProcess.ts'
import { WsClient } from '../test/support/api.ts'
import { ROOT } from '../test/support/env.ts'
import { cpuSeconds } from './lib/procStats.ts'

const options = new Command()
  .option('--events <n>', 'events to publish', '100000')
  .option('--devices <n>', 'meters publishing', '1000')
  .option('--connections <n>', 'MQTT publisher connections', '4')
  .option('--window <n>', 'unacknowledged publishes per connection', '200')
  .option('--shards <n>', 'SHARDS of the engine', '64')
  .option('--cpu-prof <dir>', 'write a V8 CPU profile of the engine into this folder')
  .parse()
  .opts<{ events: string; devices: string; connections: string; window: string; cpuProf?: string; shards: string }>()
const EVENTS = Number(options.events)
const DEVICES = Number(options.devices)
const CONNECTIONS = Number(options.connections)
const WINDOW = Number(options.window)

async function main(): Promise<void> {
  const profile = options.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProf}`] : []
  const engine = new EngineProcess({ DEMO: '0', LOG_LEVEL: 'warn', TWIN_CACHE_SIZE: String(DEVICES * 2), SHARDS: options.shards }, profile)
  await engine.start()
  try {
    const ws = await WsClient.connect(`ws://127.0.0.1:${engine.httpPort}/ws`)
    let changes = 0
    let lastChangeAt = 0
    ws.socket.on('message', (data) => {
      const text = data.toString()
      if (text.startsWith('{"op":"change"')) {
        changes++
        lastChangeAt = performance.now()
      }
    })
    ws.send({ op: 'subscribe', type: 'meter' })
    await ws.next('subscribed')

    const clients = await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => mqtt.connectAsync(engine.mqttUrl, { clientId: `bench-${i}` })))
    const energy = new Float64Array(DEVICES)
    const redisPid = Number(readFileSync(join(engine.dataDir, 'redis', 'redis.pid'), 'utf8'))
    const engineCpu0 = cpuSeconds(engine.child!.pid!)
    const redisCpu0 = cpuSeconds(redisPid)
    const t0 = performance.now()
    let next = 0
    let acked = 0
    await Promise.all(
      clients.map(async (client) => {
        const lane = async () => {
          for (;;) {
            const n = next++
            if (n >= EVENTS) return
            const d = n % DEVICES
            energy[d] += 0.01
            await client.publishAsync(`devices/meter/bench-${d}/reading`, JSON.stringify({ energyKwh: Number(energy[d]!.toFixed(3)), powerW: 1000 + (n % 500) }), { qos: 1 })
            acked++
          }
        }
        await Promise.all(Array.from({ length: WINDOW }, lane))
      }),
    )
    const tAcked = performance.now()
    const deadline = Date.now() + 120_000
    while (changes < EVENTS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    const engineCpu = cpuSeconds(engine.child!.pid!) - engineCpu0
    const redisCpu = cpuSeconds(redisPid) - redisCpu0
    const seconds = (lastChangeAt - t0) / 1000
    const health = await engine.get('/health')
    const result = {
      date: new Date().toISOString(),
      events: EVENTS,
      devices: DEVICES,
      connections: CONNECTIONS,
      window: WINDOW,
      acked,
      changesSeen: changes,
      applied: health.worker.applied,
      deadLetters: health.ingest.deadLetters + health.worker.deadLetters,
      publishSeconds: Number(((tAcked - t0) / 1000).toFixed(2)),
      endToEndSeconds: Number(seconds.toFixed(2)),
      eventsPerSecond: Math.round(changes / seconds),
      engineCpuSeconds: Number(engineCpu.toFixed(1)),
      engineCpuMicrosPerEvent: Math.round((engineCpu / changes) * 1e6),
      redisCpuSeconds: Number(redisCpu.toFixed(1)),
      redisCpuMicrosPerEvent: Math.round((redisCpu / changes) * 1e6),
      shards: health.shards,
      batches: health.worker.batches,
      meanBatch: Math.round(health.worker.applied / health.worker.batches),
    }
    console.log(JSON.stringify(result, null, 2))
    const dir = join(ROOT, 'load/results')
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, `throughput-${result.date.replace(/[:.]/g, '-')}.json`), JSON.stringify(result, null, 2))
    ws.close()
    await Promise.all(clients.map((c) => c.endAsync()))
  } finally {
    await engine.destroy()
  }
}

await main()
