/**
 * The engine process alone at a fixed rate: one `twin start` (aedes, ingest,
 * worker, API; managed redis-server), meters publishing QoS 1 at `--rate`
 * for `--seconds`, one WebSocket client subscribed to every meter. Prints the
 * CPU per event of the engine process and of redis-server (from /proc), Redis
 * commands per event (INFO commandstats: those a script runs count on their
 * own too; listed when they took more than 0.1 µs an event), and the
 * engine's event-loop delay. Steadier than the load scenarios' whole-system
 * figures for an A/B of the engine's own cost (docs/benchmarks.md, "The
 * engine process alone").
 *
 *   npm run bench:engine -- --rate 3600 --seconds 20 --devices 10000
 *   npm run bench:engine -- --rate 3600 --cpu-prof /tmp/prof      # and write a CPU profile of the engine
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Command } from 'commander'
import { Redis } from 'ioredis'
import mqtt from 'mqtt'
import { WsClient } from '../test/support/api.ts'
import { EngineProcess } from '../test/support/engineProcess.ts'
import { waitFor } from '../test/support/env.ts'
import { cpuSeconds } from './lib/procStats.ts'

const options = new Command()
  .option('--rate <n>', 'events/s', '3600')
  .option('--seconds <n>', 'how long to publish', '20')
  .option('--devices <n>', 'meters', '10000')
  .option('--cpu-prof <dir>', 'write a CPU profile of the engine process here')
  .parse()
  .opts<{ rate: string; seconds: string; devices: string; cpuProf?: string }>()
const RATE = Number(options.rate)
const DEVICES = Number(options.devices)
const TOTAL = RATE * Number(options.seconds)
const CONNECTIONS = 4

const flags = options.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProf}`] : []
const engine = new EngineProcess({ DEMO: '0', LOG_LEVEL: 'warn', TWIN_CACHE_SIZE: String(DEVICES * 2), TWINS_DIR: join(import.meta.dirname, 'twins') }, flags)
await engine.start()
try {
  const ws = await WsClient.connect(`ws://127.0.0.1:${engine.httpPort}/ws`)
  let applied = 0
  ws.socket.on('message', (data) => {
    if (data.toString().startsWith('{"op":"change"')) applied++
  })
  ws.send({ op: 'subscribe', type: 'meter' })
  await ws.next('subscribed')
  const clients = await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => mqtt.connectAsync(engine.mqttUrl, { clientId: `bench-engine-${i}` })))
  const redisFile = (name: string) => readFileSync(join(engine.dataDir, 'redis', name), 'utf8')
  const redisPid = Number(redisFile('redis.pid'))
  const redis = new Redis(Number(redisFile('port')))
  await redis.config('RESETSTAT')
  const cpu0 = [cpuSeconds(engine.child!.pid!), cpuSeconds(redisPid)]
  const t0 = performance.now()

  // Open loop: every 2 ms, publish what is due by now.
  let n = 0
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(TOTAL, Math.floor(((performance.now() - t0) / 1000) * RATE))
      for (; n < due; n++) void clients[n % CONNECTIONS]!.publishAsync(`devices/meter/m${n % DEVICES}/reading`, JSON.stringify({ energyKwh: n, powerW: 500 + (n % 300) }), { qos: 1 })
      if (n >= TOTAL) {
        clearInterval(tick)
        resolve()
      }
    }, 2)
  })
  // Changes of one tick may be conflated for a slow client: 99 % is the end.
  await waitFor('the changes', () => applied >= TOTAL * 0.99, 120_000)
  const seconds = (performance.now() - t0) / 1000
  const [engineCpu, redisCpu] = [cpuSeconds(engine.child!.pid!) - cpu0[0]!, cpuSeconds(redisPid) - cpu0[1]!]
  const perEvent = (x: number) => Math.round((x / TOTAL) * 1e6 * 10) / 10

  const commands: Record<string, { callsPerEvent: number; usPerEvent: number }> = {}
  let calls = 0
  for (const line of (await redis.info('commandstats')).split('\n')) {
    const m = /cmdstat_([\w|]+):calls=(\d+),usec=(\d+)/.exec(line)
    if (!m) continue
    calls += Number(m[2])
    if (Number(m[3]) / TOTAL > 0.1) commands[m[1]!] = { callsPerEvent: Math.round((Number(m[2]) / TOTAL) * 100) / 100, usPerEvent: perEvent(Number(m[3]) / 1e6) }
  }
  const health = await engine.get('/health')
  console.log(JSON.stringify({
    rate: RATE, events: TOTAL, devices: DEVICES, seconds: Math.round(seconds * 10) / 10,
    engineUsPerEvent: perEvent(engineCpu), redisUsPerEvent: perEvent(redisCpu),
    redisCommandsPerEvent: Math.round((calls / TOTAL) * 100) / 100,
    eventLoopDelayMs: health?.eventLoopDelayMs, commands,
  }, null, 2))
  redis.disconnect()
  ws.close()
  await Promise.all(clients.map((c) => c.endAsync()))
} finally {
  await engine.destroy()
}
