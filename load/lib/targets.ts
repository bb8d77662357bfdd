import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import * as hdr from 'hdr-histogram-js'
import { Redis } from 'ioredis'
import { EngineProcess } from '../../test/support/engineProcess.ts'
import { ROOT } from '../../test/support/env.ts'
import { LocalCluster } from '../../test/support/localCluster.ts'
import { newHistogram } from './generatorPool.ts'

const REFERENCE = join(dirname(fileURLToPath(import.meta.url)), '../reference')

/** A system the load generators drive: the engine, or a reference measured in the same run. */
export interface Target {
  name: 'engine' | 'in-memory' | 'broker-ceiling'
  description: string
  mqttUrl: string
  /** where changes arrive; absent for the broker ceiling (its MQTT sink measures) */
  wsUrl?: string
  /** processes of the system under test, for CPU and memory */
  pids(): number[]
  sink?: MqttSink
  /** Redis of the engine, for memory per twin */
  redisUrl?: string
  cluster?: LocalCluster
  engine?: EngineProcess
  /** input the target refused so far */
  deadLetters?(): Promise<number>
  stop(): Promise<void>
}

async function healthOf(url: string): Promise<Record<string, any> | null> {
  const res = await fetch(url).catch(() => null)
  return res?.ok ? ((await res.json()) as Record<string, any>) : null
}

/** Starts a reference script and waits for its `READY {json}` line. */
async function spawnReady(file: string, args: string[]): Promise<{ child: ChildProcess; ready: Record<string, number>; lines: AsyncIterableIterator<string> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REFERENCE, file), ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  const first = await Promise.race([
    lines.next(),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${file} did not get ready in 20 s`)), 20_000)),
  ])
  if (first.done || !first.value.startsWith('READY')) throw new Error(`${file} did not start: ${first.value}`)
  return { child, ready: JSON.parse(first.value.slice(6) || '{}') as Record<string, number>, lines }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
    setTimeout(() => child.kill('SIGKILL'), 5000).unref()
  })
}

/** The engine, one process: embedded broker, managed redis-server, the given twins. */
export async function engineTarget(env: Record<string, string>): Promise<Target> {
  const engine = new EngineProcess({ DEMO: '0', LOG_LEVEL: 'warn', ...env })
  await engine.start()
  const redisPort = () => Number(readFileSync(join(engine.dataDir, 'redis', 'port'), 'utf8'))
  const redisPid = () => Number(readFileSync(join(engine.dataDir, 'redis', 'redis.pid'), 'utf8'))
  return {
    name: 'engine',
    description: 'twin-engine, one process (aedes, ingest, worker, api) + managed redis-server (AOF everysec)',
    mqttUrl: engine.mqttUrl,
    wsUrl: `ws://127.0.0.1:${engine.httpPort}/ws`,
    pids: () => [engine.child!.pid!, redisPid()],
    redisUrl: `redis://127.0.0.1:${redisPort()}`,
    engine,
    deadLetters: async () => {
      const h = await healthOf(`${engine.httpUrl}/health`)
      return (h?.ingest?.deadLetters ?? 0) + (h?.worker?.deadLetters ?? 0)
    },
    stop: () => engine.destroy(),
  }
}

/** The engine as a front process and `workers` worker processes (for failover). */
export async function clusterTarget(workers: number, env: Record<string, string>): Promise<Target> {
  // The shipped rules, as a single engine process runs them (LocalCluster defaults to the test fixtures').
  const cluster = new LocalCluster({ DEMO: '0', RULES_DIR: join(ROOT, 'rules'), ...env })
  await cluster.start(workers)
  return {
    name: 'engine',
    description: `twin-engine, front process (aedes, ingest, api) + ${workers} worker processes + redis-server`,
    mqttUrl: cluster.front.mqttUrl,
    wsUrl: `ws://127.0.0.1:${cluster.front.httpPort}/ws`,
    pids: () => [cluster.front.child!.pid!, ...cluster.alive.map((i) => cluster.workers[i]!.child.pid!)],
    redisUrl: cluster.redis.url,
    cluster,
    stop: () => cluster.stop(),
  }
}

/** MQTT → an XState actor per device in a Map → WebSocket, no persistence. */
export async function inMemoryTarget(twinsDir: string): Promise<Target> {
  const { child, ready } = await spawnReady('inMemoryEngine.ts', ['--mqtt-port', '0', '--http-port', '0', '--twins', twinsDir])
  return {
    name: 'in-memory',
    description: 'reference: aedes → XState actor per device in a Map → WebSocket, no persistence',
    mqttUrl: `mqtt://127.0.0.1:${ready.mqttPort}`,
    wsUrl: `ws://127.0.0.1:${ready.httpPort}/ws`,
    pids: () => [child.pid!],
    deadLetters: async () => (await healthOf(`http://127.0.0.1:${ready.httpPort}/health`))?.deadLetters ?? 0,
    stop: () => stopChild(child),
  }
}

/** The same broker (aedes as embedded) from a plain publisher to a plain subscriber. */
export async function brokerCeilingTarget(): Promise<Target> {
  const broker = await spawnReady('broker.ts', ['--mqtt-port', '0'])
  const url = `mqtt://127.0.0.1:${broker.ready.mqttPort}`
  const sink = await MqttSink.start(url)
  return {
    name: 'broker-ceiling',
    description: 'reference: mqtt.js publishers → aedes (as embedded) → one mqtt.js subscriber',
    mqttUrl: url,
    pids: () => [broker.child.pid!],
    sink,
    stop: async () => {
      await sink.stop()
      await stopChild(broker.child)
    },
  }
}

/** The subscriber of the broker ceiling (load/reference/mqttSink.ts), as per-second totals. */
export class MqttSink {
  readonly seconds: Array<{ received: number; histogram: hdr.Histogram }> = []
  total = newHistogram()
  received = 0

  private constructor(
    private readonly child: ChildProcess,
    private readonly done: Promise<void>,
  ) {}

  static async start(url: string): Promise<MqttSink> {
    const { child, lines } = await spawnReady('mqttSink.ts', ['--url', url])
    let sink!: MqttSink
    const done = (async () => {
      let last = 0
      for await (const line of { [Symbol.asyncIterator]: () => lines }) {
        const m = JSON.parse(line) as { type: string; received: number; histogram: string }
        const histogram = hdr.decodeFromCompressedBase64(m.histogram)
        if (m.type === 'progress') {
          sink.seconds.push({ received: m.received - last, histogram })
          last = m.received
        } else if (m.type === 'final') {
          sink.total = histogram
          sink.received = m.received
        }
      }
    })()
    sink = new MqttSink(child, done)
    return sink
  }

  /** Marks the start of the measured phase: per-second data before it is dropped. */
  reset(): void {
    this.seconds.length = 0
  }

  async stop(): Promise<void> {
    await stopChild(this.child)
    await this.done
  }
}

/** Redis `used_memory` in bytes. */
export async function redisUsedMemory(url: string): Promise<number> {
  const redis = new Redis(url)
  try {
    const info = await redis.info('memory')
    return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0)
  } finally {
    redis.disconnect()
  }
}
