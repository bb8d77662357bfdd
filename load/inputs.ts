/**
 * Ingest of input topics (ADR 0021) against device topics, in the same run:
 *
 *   device   - `devices/meter/<id>/reading`: the reference (validation + XADD)
 *   input-1  - a message on an input topic one twin type takes (key path, XADD)
 *   input-2  - a message on an input topic two twin types take (one script call, two entries)
 *
 *   npm run bench:inputs -- --messages 50000 --rounds 3
 *
 * Rounds alternate the three kinds so that drift on a shared box hits each
 * alike; each line reports messages/s and CPU µs per message of this process
 * and of redis-server, and the ratio to the device reference of the same round.
 * Uses a throw-away managed redis-server under a temp dir.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { pino } from 'pino'
import { createMachine } from 'xstate'
import { defineTwin } from '../src/definitions/defineTwin.ts'
import { TwinRegistry } from '../src/definitions/registry.ts'
import { startManagedRedis } from '../src/embedded/redisServer.ts'
import { Ingestor } from '../src/ingest/ingestor.ts'
import { ensureShardCount } from '../src/store/clusterMeta.ts'
import { Keys } from '../src/store/keys.ts'
import { connectRedis } from '../src/store/redis.ts'
import { cpuSeconds } from './lib/procStats.ts'

const options = new Command()
  .option('--messages <n>', 'messages per kind per round', '50000')
  .option('--devices <n>', 'devices', '1000')
  .option('--rounds <n>', 'rounds', '3')
  .parse()
  .opts<{ messages: string; devices: string; rounds: string }>()
const MESSAGES = Number(options.messages)
const DEVICES = Number(options.devices)
const ROUNDS = Number(options.rounds)
const log = pino({ level: 'warn' })

const machine = createMachine({ id: 'm', initial: 'on', states: { on: { on: { '*': {} } } } })
const reading = { properties: { id: { type: 'string' }, site: { type: 'string' }, powerW: { type: 'number' } } }
const registry = new TwinRegistry([
  defineTwin({ type: 'meter', version: 1, machine, events: { reading }, inputs: [{ topic: 'grid/one', event: 'reading', keyPath: 'id' }, { topic: 'grid/two', event: 'reading', keyPath: 'id' }] }),
  defineTwin({ type: 'site', version: 1, machine, events: { reading }, inputs: [{ topic: 'grid/two', event: 'reading', keyPath: 'site' }] }),
])

const payload = (n: number) => Buffer.from(JSON.stringify({ id: `m${n % DEVICES}`, site: `s${n % 10}`, powerW: 1000 + (n % 500) }))

const KINDS = {
  device: (n: number) => [`devices/meter/m${n % DEVICES}/reading`, payload(n)] as const,
  'input-1': (n: number) => ['grid/one', payload(n)] as const,
  'input-2': (n: number) => ['grid/two', payload(n)] as const,
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'twin-bench-inputs-'))
  const managed = await startManagedRedis({ dataDir, appendfsync: 'everysec' })
  const redisPid = Number(readFileSync(join(dataDir, 'redis', 'redis.pid'), 'utf8'))
  const redis = connectRedis(managed.url, 'bench')
  try {
    const keys = new Keys('bench:')
    const shards = await ensureShardCount(redis, keys, 64)
    const ingestor = new Ingestor({ redis, keys, registry, shards, maxPayloadBytes: 65536, deadLetterMaxLen: 1000, log })
    for (let round = 1; round <= ROUNDS; round++) {
      let reference = 0
      for (const [kind, message] of Object.entries(KINDS)) {
        const r0 = cpuSeconds(redisPid)
        const c0 = process.cpuUsage()
        const t0 = performance.now()
        let next = 0
        // 500 messages in flight, as the embedded broker's hook sees a busy fleet.
        const lane = async () => {
          while (next < MESSAGES) {
            const [topic, body] = message(next++)
            await ingestor.fromMqtt(topic, body)
          }
        }
        await Promise.all(Array.from({ length: 500 }, lane))
        const seconds = (performance.now() - t0) / 1000
        const c = process.cpuUsage(c0)
        const perSecond = Math.round(MESSAGES / seconds)
        if (kind === 'device') reference = perSecond
        console.log(JSON.stringify({
          round, kind, messages: MESSAGES, messagesPerSecond: perSecond,
          nodeCpuMicrosPerMessage: Math.round(((c.user + c.system) / 1e6 / MESSAGES) * 1e6),
          redisCpuMicrosPerMessage: Math.round(((cpuSeconds(redisPid) - r0) / MESSAGES) * 1e6),
          ratioToDevice: Number((perSecond / reference).toFixed(2)),
        }))
        // Empty the inboxes between kinds: every kind starts from the same Redis.
        for (let s = 0; s < shards; s++) await redis.del(keys.shard(s).inbox)
      }
    }
    if (ingestor.stats.deadLetters) throw new Error(`${ingestor.stats.deadLetters} dead letters: the benchmark's messages are wrong`)
  } finally {
    await redis.quit()
    await managed.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

await main()
