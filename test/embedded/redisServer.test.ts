import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import { isTwinError } from '../../src/errors.ts'
import { isAlive, startManagedRedis, type ManagedRedis } from '../../src/embedded/redisServer.ts'

const started: ManagedRedis[] = []
const dirs: string[] = []
const clients: Redis[] = []
const killAfter: ChildProcess[] = []

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'twin-redis-'))
  dirs.push(d)
  return d
}

async function start(dataDir: string, extra: { port?: number } = {}): Promise<ManagedRedis> {
  const r = await startManagedRedis({ dataDir, ...extra })
  started.push(r)
  return r
}

function connect(url: string): Redis {
  const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  clients.push(c)
  return c
}

afterEach(async () => {
  for (const p of killAfter.splice(0)) p.kill('SIGKILL')
  for (const c of clients.splice(0)) c.disconnect()
  for (const r of started.splice(0).reverse()) await r.stop()
  for (const d of dirs.splice(0)) {
    // Safety net for a failed test that left a server running: kill it by its pid file.
    try { process.kill(Number(readFileSync(join(d, 'redis', 'redis.pid'), 'utf8')), 'SIGKILL') } catch { /* none */ }
    rmSync(d, { recursive: true, force: true })
  }
})

describe('startManagedRedis', () => {
  it('starts on a free loopback port and keeps data across a stop and restart (AOF)', async () => {
    const dataDir = tmp()
    const first = await start(dataDir)
    expect(first.adopted).toBe(false)
    expect(first.url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/)
    const port = Number(readFileSync(join(dataDir, 'redis', 'port'), 'utf8'))
    expect(first.url).toBe(`redis://127.0.0.1:${port}`)

    const c1 = connect(first.url)
    await c1.set('twin:k', 'v1')
    expect(await c1.config('GET', 'appendonly')).toEqual(['appendonly', 'yes'])
    expect(await c1.config('GET', 'save')).toEqual(['save', ''])
    c1.disconnect()
    const pid = Number(readFileSync(join(dataDir, 'redis', 'redis.pid'), 'utf8'))
    await first.stop()
    expect(isAlive(pid)).toBe(false)

    const second = await start(dataDir)
    expect(second.adopted).toBe(false)
    expect(second.url).toBe(first.url) // the recorded port is reused
    expect(await connect(second.url).get('twin:k')).toBe('v1')
  })

  it('adopts a redis-server left running on the same dataDir instead of starting another', async () => {
    const dataDir = tmp()
    const owner = await start(dataDir)
    await connect(owner.url).set('twin:k', 'kept')
    const pid = Number(readFileSync(join(dataDir, 'redis', 'redis.pid'), 'utf8'))

    const adopted = await startManagedRedis({ dataDir })
    expect(adopted.adopted).toBe(true)
    expect(adopted.url).toBe(owner.url)
    expect(await connect(adopted.url).get('twin:k')).toBe('kept')

    // The engine owns an adopted server: stop() shuts it down.
    await adopted.stop()
    expect(isAlive(pid)).toBe(false)
  })

  it('adopts the redis-server of an engine that was SIGKILLed', async () => {
    const dataDir = tmp()
    const script = join(dataDir, 'engine.mts')
    writeFileSync(script, [
      `import { startManagedRedis } from ${JSON.stringify(fileURLToPath(new URL('../../src/embedded/redisServer.ts', import.meta.url)))}`,
      `const r = await startManagedRedis({ dataDir: ${JSON.stringify(dataDir)} })`,
      'console.log(r.url)',
      'setInterval(() => {}, 1000)',
    ].join('\n'))
    const engine = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] })
    killAfter.push(engine)
    const [line] = (await once(createInterface({ input: engine.stdout! }), 'line')) as [string]
    engine.kill('SIGKILL')
    await once(engine, 'exit')
    const pid = Number(readFileSync(join(dataDir, 'redis', 'redis.pid'), 'utf8'))
    expect(isAlive(pid)).toBe(true) // the orphan outlived its engine

    const adopted = await start(dataDir)
    expect(adopted.adopted).toBe(true)
    expect(adopted.url).toBe(line)
    await adopted.stop()
    expect(isAlive(pid)).toBe(false)
  }, 20_000)

  it('starts normally when the pid file is stale', async () => {
    const dataDir = tmp()
    const first = await start(dataDir)
    const stalePid = Number(readFileSync(join(dataDir, 'redis', 'redis.pid'), 'utf8'))
    await first.stop()
    // Redis removes its pid file on a clean exit; put back what a SIGKILL of both would leave.
    writeFileSync(join(dataDir, 'redis', 'redis.pid'), `${stalePid}\n`)

    const second = await start(dataDir)
    expect(second.adopted).toBe(false)
    expect(await connect(second.url).ping()).toBe('PONG')
  })

  it('uses the port it is given', async () => {
    const probe = await start(tmp())
    const port = Number(new URL(probe.url).port)
    await probe.stop()
    const r = await start(tmp(), { port })
    expect(r.url).toBe(`redis://127.0.0.1:${port}`)
  })

  it('fails with TWIN_ERR_REDIS_SERVER_MISSING and install hints when redis-server is not on PATH', async () => {
    const empty = tmp()
    const err = await startManagedRedis({ dataDir: tmp(), searchPath: empty }).catch((e: unknown) => e)
    expect(isTwinError(err) && err.code).toBe('TWIN_ERR_REDIS_SERVER_MISSING')
    expect((err as Error).message).toContain('apt-get install redis-server')
    expect((err as Error).message).toContain('brew install redis')
    expect((err as Error).message).toContain('docker run -p 6379:6379 redis:7')
  })

  it('fails with TWIN_ERR_REDIS_SERVER_FAILED and the log tail when redis-server cannot start', async () => {
    // Occupy the port with another redis: ours cannot bind and exits at once.
    const other = await start(tmp())
    const port = Number(new URL(other.url).port)
    const err = await startManagedRedis({ dataDir: tmp(), port }).catch((e: unknown) => e)
    expect(isTwinError(err) && err.code).toBe('TWIN_ERR_REDIS_SERVER_FAILED')
    expect((err as Error).message).toMatch(/address already in use/i)
  })
})
