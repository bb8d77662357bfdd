import { readFileSync } from 'node:fs'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import mqtt, { type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { startManagedRedis, type ManagedRedis } from '../../src/embedded/redisServer.ts'
import { EngineProcess } from '../support/engineProcess.ts'
import { FIXTURE_TWINS, freePort, waitFor } from '../support/env.ts'

/**
 * Faults with real processes (issue 15): Redis killed under traffic (the
 * managed one, restarted by the engine; an external one, restarted by the
 * test), an inbox over its bound, Redis at maxmemory with noeviction. In each,
 * every event a device got a PUBACK for is applied exactly once, in order
 * (the counter twin counts gaps and duplicates).
 */
const engines: EngineProcess[] = []
const clients: MqttClient[] = []
const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of clients.splice(0)) c.end(true)
  for (const e of engines.splice(0)) await e.destroy()
  for (const f of cleanups.splice(0).reverse()) await f()
})

async function engine(env: Record<string, string> = {}): Promise<EngineProcess> {
  const e = new EngineProcess({ TWINS_DIR: FIXTURE_TWINS, RULES_DIR: join(FIXTURE_TWINS, 'none'), SHARDS: '8', ...env })
  engines.push(e)
  await e.start()
  return e
}

/** Devices publishing sequence numbers as fast as their PUBACKs come back; `acked` is what the engine acknowledged. */
async function pump(url: string, ids: string[]) {
  // No reconnect: a resend would be a new event, and the test wants the acknowledged ones.
  const dev = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: `dev-${Math.random().toString(36).slice(2)}` })
  dev.on('error', () => undefined)
  clients.push(dev)
  const acked = new Map(ids.map((id) => [id, 0]))
  let stopped = false
  const loops = ids.map(async (id) => {
    for (let seq = 1; !stopped; seq++) {
      await dev.publishAsync(`devices/counter/${id}/inc`, JSON.stringify({ seq }), { qos: 1 })
      acked.set(id, seq)
    }
  })
  return {
    acked,
    total: () => [...acked.values()].reduce((a, b) => a + b, 0),
    /** stops after the publishes in flight are acknowledged */
    stop: async () => {
      stopped = true
      await Promise.all(loops)
    },
  }
}

async function expectExactlyOnce(e: EngineProcess, acked: Map<string, number>): Promise<void> {
  for (const [id, n] of acked) {
    const twin = await waitFor(`${id} applied up to ${n}`, async () => {
      const t = await e.get(`/twins/counter/${id}`)
      return t && t.context.lastSeq >= n ? t : null
    }, 30_000)
    expect(twin.context).toMatchObject({ count: n, lastSeq: n, gaps: 0, dupes: 0 })
  }
}

async function status(url: string): Promise<number> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) })
  await res.arrayBuffer()
  return res.status
}

/** Kills Redis, then measures how long until the API answers 503 and what /health, /ready say. */
async function killAndWatch(e: EngineProcess, kill: () => void) {
  const killedAt = Date.now()
  kill()
  const read = `${e.httpUrl}/twins/counter/k0`
  await waitFor('HTTP 503 while Redis is away', async () => (await status(read)) === 503, 10_000)
  const to503 = Date.now() - killedAt
  const body = await (await fetch(read)).json()
  expect(body.error.code).toBe('TWIN_ERR_REDIS_UNAVAILABLE')
  expect(await status(`${e.httpUrl}/ready`)).toBe(503)
  const health = await fetch(`${e.httpUrl}/health`)
  expect(health.status).toBe(503)
  const figures = await health.json()
  expect(figures).toMatchObject({ status: 'degraded', redis: { status: 'down' } })
  expect(await status(`${e.httpUrl}/live`)).toBe(200)
  return { killedAt, to503, held: figures.ingest.held as number }
}

describe('Redis killed under traffic', () => {
  it('the managed redis-server: restarted by the engine; 503 meanwhile; every acknowledged event applied exactly once', async () => {
    const e = await engine()
    const ids = Array.from({ length: 10 }, (_, i) => `k${i}`)
    const devices = await pump(e.mqttUrl, ids)
    await waitFor('traffic flowing', () => devices.total() >= 500)
    const pid = Number(readFileSync(join(e.dataDir, 'redis', 'redis.pid'), 'utf8'))
    const { killedAt, to503, held } = await killAndWatch(e, () => process.kill(pid, 'SIGKILL'))
    const heldAt = devices.total()
    // Restarted by the engine itself, on the same data and port.
    await waitFor('ready again', async () => (await status(`${e.httpUrl}/ready`)) === 200, 30_000)
    const toReady = Date.now() - killedAt
    const newPid = Number(readFileSync(join(e.dataDir, 'redis', 'redis.pid'), 'utf8'))
    expect(newPid).not.toBe(pid)
    await waitFor('PUBACKs flowing again', () => devices.total() > heldAt + 100, 20_000)
    await devices.stop()
    await expectExactlyOnce(e, devices.acked)
    expect(e.output).toMatch(/managed redis-server died; restarting it/)
    console.log(`managed Redis SIGKILL: 503 after ${to503} ms, ready again ${toReady} ms after the kill; PUBACKs held meanwhile: ${held} (10 devices, one publish in flight each)`)
  }, 90_000)

  it('an external Redis restarted by the test: the engine resumes by itself', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'twin-ext-redis-'))
    const port = await freePort()
    let redis: ManagedRedis = await startManagedRedis({ dataDir: dir, port })
    cleanups.push(async () => {
      await redis.stop()
      rmSync(dir, { recursive: true, force: true })
    })
    const e = await engine({ REDIS_URL: redis.url })
    const ids = Array.from({ length: 10 }, (_, i) => `k${i}`)
    const devices = await pump(e.mqttUrl, ids)
    await waitFor('traffic flowing', () => devices.total() >= 500)
    const pid = Number(readFileSync(join(dir, 'redis', 'redis.pid'), 'utf8'))
    const { killedAt } = await killAndWatch(e, () => process.kill(pid, 'SIGKILL'))
    const heldAt = devices.total()
    await new Promise((r) => setTimeout(r, 1000))
    // Nothing was acknowledged while Redis was away.
    expect(devices.total()).toBe(heldAt)
    const restartedAt = Date.now()
    redis = await startManagedRedis({ dataDir: dir, port })
    await waitFor('ready again', async () => (await status(`${e.httpUrl}/ready`)) === 200, 30_000)
    console.log(`external Redis: down ${restartedAt - killedAt} ms; ready ${Date.now() - restartedAt} ms after it was back`)
    await waitFor('PUBACKs flowing again', () => devices.total() > heldAt + 100, 20_000)
    await devices.stop()
    await expectExactlyOnce(e, devices.acked)
  }, 90_000)
})

describe('backpressure', () => {
  it('an inbox over INBOX_MAX_LENGTH holds PUBACKs until workers drain it, then every event is applied once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'twin-bp-redis-'))
    const redis = await startManagedRedis({ dataDir: dir, port: await freePort() })
    cleanups.push(async () => {
      await redis.stop()
      rmSync(dir, { recursive: true, force: true })
    })
    // Ingest and API only: nobody drains the inboxes yet.
    const front = await engine({ REDIS_URL: redis.url, TWIN_ROLES: 'ingest,api', INBOX_MAX_LENGTH: '100', SHARDS: '1' })
    const devices = await pump(front.mqttUrl, ['b0', 'b1', 'b2'])
    await waitFor('PUBACKs held', async () => {
      const h = await (await fetch(`${front.httpUrl}/health`)).json()
      return h.ingest.fullShards.length === 1 && h.ingest.held > 0
    }, 15_000)
    const heldAt = devices.total()
    await new Promise((r) => setTimeout(r, 1000))
    // Bounded: the inbox stops near its bound (plus what was on its way in the last read interval).
    expect(devices.total()).toBe(heldAt)
    const probe = new Redis(redis.url)
    cleanups.push(() => void probe.disconnect())
    expect(await probe.xlen('{tw:0}:in')).toBeLessThan(1000)
    // A worker drains the inbox; the held PUBACKs go out and traffic resumes.
    const worker = new EngineProcess({ REDIS_URL: redis.url, TWIN_ROLES: 'worker', MQTT_URL: front.mqttUrl, MQTT_PROTOCOL: '4', TWINS_DIR: FIXTURE_TWINS, RULES_DIR: join(FIXTURE_TWINS, 'none'), SHARDS: '1' })
    engines.push(worker)
    await worker.start()
    await waitFor('PUBACKs flowing again', () => devices.total() > heldAt + 200, 30_000)
    await devices.stop()
    await expectExactlyOnce(front, devices.acked)
  }, 90_000)

  it('Redis at maxmemory with noeviction: writes held and reported, resumed when it has room, every event applied once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'twin-oom-redis-'))
    const redis = await startManagedRedis({ dataDir: dir, port: await freePort() })
    const admin = new Redis(redis.url)
    cleanups.push(async () => {
      admin.disconnect()
      await redis.stop()
      rmSync(dir, { recursive: true, force: true })
    })
    const e = await engine({ REDIS_URL: redis.url })
    const devices = await pump(e.mqttUrl, ['m0', 'm1', 'm2'])
    await waitFor('traffic flowing', () => devices.total() >= 300)
    const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1])
    await admin.config('SET', 'maxmemory-policy', 'noeviction')
    await admin.config('SET', 'maxmemory', String(used - 1024 * 1024))
    const health = await waitFor('refusing writes reported', async () => {
      const res = await fetch(`${e.httpUrl}/health`)
      const h = await res.json()
      return res.status === 503 && h.redis.status === 'refusing-writes' ? h : null
    }, 10_000)
    expect(health.redis.reason).toMatch(/^OOM/)
    const heldAt = devices.total()
    await new Promise((r) => setTimeout(r, 1000))
    expect(devices.total()).toBe(heldAt)
    await admin.config('SET', 'maxmemory', '0')
    await waitFor('PUBACKs flowing again', () => devices.total() > heldAt + 100, 20_000)
    await devices.stop()
    await expectExactlyOnce(e, devices.acked)
    expect(e.output).toMatch(/TWIN_ERR_REDIS_UNAVAILABLE/)
  }, 90_000)
})
