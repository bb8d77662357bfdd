import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import * as hdr from 'hdr-histogram-js'
import { Redis } from 'ioredis'
import { EngineProcess } from '../../test/support/engineProcess.ts'
import { ROOT } from '../../test/support/env.ts'
import { LocalCluster } from '../../test/support/localCluster.ts'
import { startMosquitto } from '../../test/support/mosquitto.ts'
import { newHistogram } from './generatorPool.ts'

const REFERENCE = join(dirname(fileURLToPath(import.meta.url)), '../reference')

/** The broker devices publish to: each target's own aedes (as the engine embeds it), or a mosquitto the load tool runs for it. */
export type Broker = 'aedes' | 'mosquitto'
export const BROKERS: Broker[] = ['aedes', 'mosquitto']

/**
 * mosquitto for a load run. Two of its defaults would throttle or drop the
 * load rather than measure it. 20 messages in flight to a subscriber: the
 * engine holds each PUBACK until Redis has the event, so 20 would cap its
 * batches; 1000 is what deploy/compose/mosquitto.conf and the engine's MQTT 5
 * receive maximum use. 1000 queued per subscriber beyond those, after which
 * mosquitto drops QoS 1 messages: a drop loses an event and shifts every later
 * revision of its device, so the queue is unbounded here (0), as aedes's is.
 * It can grow where publishers outrun a subscriber: the ceiling's sink in the
 * closed loop, a target that falls behind the fixed rate; it lives for one
 * phase. No persistence (nothing survives a phase). The rest is mosquitto's
 * default (Nagle on, as on aedes's and mqtt.js's sockets).
 */
const LOAD_MOSQUITTO = { persistence: false, max_inflight_messages: 1000, max_queued_messages: 0 }

/** What a report says about the broker of its run. */
export function brokerLabel(broker: Broker): string {
  if (broker === 'aedes') return 'aedes, embedded (in the engine process and in each reference)'
  const version = /mosquitto version (\S+)/.exec(spawnSync('mosquitto', ['-h'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? 'unknown version'
  const settings = Object.entries(LOAD_MOSQUITTO).map(([name, value]) => `${name} ${value}`).join(', ')
  return `mosquitto ${version}, external: a fresh one per target and phase, started by the load tool (${settings})`
}

/**
 * Starts a target on the broker asked for: `start` gets the URL of an
 * external broker to use, or none for the target's own aedes. On mosquitto, a
 * fresh one for this target only: its CPU and memory count with the target's
 * (the embedded aedes counts inside the engine's process), and it stops with
 * the target — or at once, if the target does not start.
 */
async function onBroker(broker: Broker, start: (mqttUrl: string | undefined) => Promise<Target>): Promise<Target> {
  if (broker === 'aedes') return start(undefined)
  const mosquitto = await startMosquitto(LOAD_MOSQUITTO)
  let target: Target
  try {
    target = await start(mosquitto.url)
  } catch (err) {
    await mosquitto.stop()
    throw err
  }
  return {
    ...target,
    // mosquitto acknowledges a publish at once, whatever the target behind it does.
    closeOnChange: target.wsUrl !== undefined,
    pids: () => [...target.pids(), mosquitto.pid],
    stop: async () => {
      try {
        await target.stop()
      } finally {
        await mosquitto.stop()
      }
    },
  }
}

/** A system the load generators drive: the engine, or a reference measured in the same run. */
export interface Target {
  name: 'engine' | 'in-memory' | 'broker-ceiling'
  description: string
  mqttUrl: string
  /** where changes arrive; absent for the broker ceiling (its MQTT sink measures) */
  wsUrl?: string
  /** closed loop until each publish's change arrives, not its PUBACK (see GeneratorConfig.closeOnChange) */
  closeOnChange?: boolean
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

/** The engine, one process: embedded broker (or subscribed to mosquitto through MQTT_URL), managed redis-server, the given twins. */
export function engineTarget(env: Record<string, string>, broker: Broker = 'aedes'): Promise<Target> {
  return onBroker(broker, async (mqttUrl) => {
    const engine = new EngineProcess({ DEMO: '0', LOG_LEVEL: 'warn', ...env, ...(mqttUrl ? { MQTT_URL: mqttUrl } : {}) })
    await engine.start()
    const redisPort = () => Number(readFileSync(join(engine.dataDir, 'redis', 'port'), 'utf8'))
    const redisPid = () => Number(readFileSync(join(engine.dataDir, 'redis', 'redis.pid'), 'utf8'))
    return {
      name: 'engine',
      description: mqttUrl
        ? 'twin-engine, one process (ingest subscribed to mosquitto by MQTT_URL, worker, api) + managed redis-server (AOF everysec) + mosquitto'
        : 'twin-engine, one process (aedes, ingest, worker, api) + managed redis-server (AOF everysec)',
      mqttUrl: mqttUrl ?? engine.mqttUrl,
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
  })
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
export function inMemoryTarget(twinsDir: string, broker: Broker = 'aedes'): Promise<Target> {
  return onBroker(broker, async (mqttUrl) => {
    const { child, ready } = await spawnReady('inMemoryEngine.ts', [...(mqttUrl ? ['--mqtt-url', mqttUrl] : ['--mqtt-port', '0']), '--http-port', '0', '--twins', twinsDir])
    return {
      name: 'in-memory',
      description: `reference: ${mqttUrl ? 'mosquitto → MQTT subscriber' : 'aedes'} → XState actor per device in a Map → WebSocket, no persistence`,
      mqttUrl: mqttUrl ?? `mqtt://127.0.0.1:${ready.mqttPort}`,
      wsUrl: `ws://127.0.0.1:${ready.httpPort}/ws`,
      pids: () => [child.pid!],
      deadLetters: async () => (await healthOf(`http://127.0.0.1:${ready.httpPort}/health`))?.deadLetters ?? 0,
      stop: () => stopChild(child),
    }
  })
}

/** The broker alone (aedes as embedded, or the mosquitto) from plain publishers to one plain subscriber. */
export function brokerCeilingTarget(broker: Broker = 'aedes'): Promise<Target> {
  return onBroker(broker, async (mqttUrl) => {
    const aedes = mqttUrl ? undefined : await spawnReady('broker.ts', ['--mqtt-port', '0'])
    const url = mqttUrl ?? `mqtt://127.0.0.1:${aedes!.ready.mqttPort}`
    const sink = await MqttSink.start(url)
    return {
      name: 'broker-ceiling',
      description: `reference: mqtt.js publishers → ${aedes ? 'aedes (as embedded)' : 'mosquitto'} → one mqtt.js subscriber`,
      mqttUrl: url,
      pids: () => (aedes ? [aedes.child.pid!] : []),
      sink,
      stop: async () => {
        await sink.stop()
        if (aedes) await stopChild(aedes.child)
      },
    }
  })
}

/** What the sink counted in one second of its own clock. */
export interface MqttSinkSecond {
  received: number
  histogram: hdr.Histogram
}

/** The subscriber of the broker ceiling (load/reference/mqttSink.ts), as per-second totals. */
export class MqttSink {
  readonly seconds: MqttSinkSecond[] = []
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
