import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { loadTwinRegistry } from '../../src/definitions/registry.ts'
import { replayRetained } from '../../src/jobs/replay.ts'
import { shardRange } from '../../src/model/ids.ts'
import { Keys } from '../../src/store/keys.ts'
import { connectRedis } from '../../src/store/redis.ts'
import { readSnapshots } from '../../src/store/retention.ts'
import { EngineProcess } from '../support/engineProcess.ts'
import { dropPrefix, redisCluster, redisEnv, redisUrl, ROOT, waitFor } from '../support/env.ts'
import candidate from '../fixtures/replay/candidate/boiler.ts'

/**
 * What-if replay end to end: a real engine process retaining its input on a
 * real Redis, a fleet of boilers driven over HTTP, then `twin replay` (a real
 * process) of a candidate whose overheat threshold is 70 instead of 80: the
 * report names exactly the boilers that saw a reading in (70, 80], each with
 * the reading where the two part. Bad candidates are refused with the code.
 */

const TWINS = join(ROOT, 'test/fixtures/replay/twins')
const CANDIDATES = join(ROOT, 'test/fixtures/replay/candidate')
const NO_RULES = join(ROOT, 'test/fixtures/replay/no-rules')
const run = promisify(execFile)
const SHARDS = 4

let engine: EngineProcess | undefined
let cleanup: (() => Promise<void>) | undefined
afterEach(async () => {
  await engine?.destroy()
  engine = undefined
  await cleanup?.()
  cleanup = undefined
})

async function replay(prefix: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(ROOT, 'bin/twin.js'), 'replay', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...redisEnv(), KEY_PREFIX: prefix, TWINS_DIR: TWINS, RULES_DIR: NO_RULES, LOG_LEVEL: 'warn' },
      timeout: 60_000,
    })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe('twin replay (real engine process, real Redis)', () => {
  it('a candidate with a lower threshold: the report names exactly the twins and events that differ; bad candidates are refused', async () => {
    const prefix = `t${Math.random().toString(36).slice(2, 10)}:`
    const keys = new Keys(prefix)
    const redis = connectRedis(redisUrl(), 'test', redisCluster())
    cleanup = async () => {
      await dropPrefix(redis, prefix)
      await redis.quit()
    }
    engine = new EngineProcess({ ...redisEnv(), KEY_PREFIX: prefix, SHARDS: String(SHARDS), TWINS_DIR: TWINS, RULES_DIR: NO_RULES, RETAIN_INPUT_MS: '3600000', RETAIN_SNAPSHOT_MS: '60000' })
    await engine.start()
    await waitFor('a first snapshot of every shard', async () => (await Promise.all(shardRange(SHARDS).map((s) => readSnapshots(redis, keys.shard(s))))).every((r) => r.snapshots.length > 0))

    // Boiler i reads 50 + i, then 55: over 80 overheats either way, (70, 80] only with the candidate.
    const entries = new Map<string, string>()
    const send = async (id: string, temp: number) => {
      const res = await fetch(`${engine!.httpUrl}/twins/boiler/${id}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ event: 'reading', payload: { temp } }) })
      expect(res.status).toBe(202)
      return ((await res.json()) as { entryId: string }).entryId
    }
    for (let i = 0; i < 40; i++) entries.set(`b${i}`, await send(`b${i}`, 50 + i))
    for (let i = 0; i < 40; i++) await send(`b${i}`, 55)
    await waitFor('fleet applied', async () => (await engine!.get('/twins/counts?type=boiler'))?.types.boiler.total === 40 && (await engine!.get('/twins/boiler/b39'))?.context.temp === 55)

    const { stdout, code } = await replay(prefix, '--definition', join(CANDIDATES, 'boiler.ts'), '--since', '1h', '--json')
    expect(code).toBe(0)
    const report = JSON.parse(stdout)
    const differing = Array.from({ length: 10 }, (_, n) => `boiler/b${21 + n}`).sort()
    expect(report).toMatchObject({ type: 'boiler', twins: 40, inputs: 80, differ: 10, same: 30 })
    // The engine retained less than the hour asked: the window starts at its first snapshots, before the fleet's first reading.
    expect(report.window.partial).toBe(true)
    expect(report.window.from).toBeLessThanOrEqual(Number(entries.get('b0')!.split('-')[0]))
    expect(report.differences.map((d: { twin: string }) => d.twin)).toEqual(differing)
    for (const d of report.differences) {
      const id = d.twin.slice('boiler/'.length)
      expect(d.first.running).toMatchObject({ cause: { kind: 'input', id: entries.get(id), event: 'reading' }, value: 'normal', derived: [] })
      expect(d.first.candidate).toMatchObject({ cause: { kind: 'input', id: entries.get(id) }, value: 'overheated', derived: ['overheat'] })
      expect(d.derived.added.map((p: { item: { name: string } }) => p.item.name)).toEqual(['overheat', 'recovered'])
      expect(d.derived.missing).toEqual([])
      expect(d.state).toMatchObject({ running: { context: { alarms: 0 } }, candidate: { context: { alarms: 1 } } })
    }
    expect(report.totals).toMatchObject({ derivedAdded: 20, derivedMissing: 0, commandsAdded: 0, commandsMissing: 0 })

    // The text report, and --ids.
    const text = await replay(prefix, '--definition', join(CANDIDATES, 'boiler.ts'), '--ids', 'b25,b3', '--since', '1h')
    expect(text.stdout).toMatch(/2 twins, 4 inputs .*: 1 differ, 1 the same/)
    expect(text.stdout).toContain('boiler/b25:')

    // The same as a library call (twin-engine/replay).
    const registry = await loadTwinRegistry(TWINS, NO_RULES)
    const lib = await replayRetained({ redis, keys, shards: SHARDS, registry, candidate, ids: ['b25', 'b35'], sinceMs: 3_600_000 })
    expect(lib.differences.map((d) => d.twin)).toEqual(['boiler/b25'])

    // Bad input: a file that does not compile, a definition of another type.
    const dir = mkdtempSync(join(tmpdir(), 'twin-replay-'))
    writeFileSync(join(dir, 'broken.ts'), "import { defineTwin } from 'twin-engine/define'\nexport default defineTwin({ type: 'boiler', \n")
    const broken = await replay(prefix, '--definition', join(dir, 'broken.ts'))
    expect(broken.code).toBe(1)
    expect(broken.stderr).toMatch(/twin: TWIN_ERR_REPLAY_DEFINITION: .*broken\.ts: does not compile or load/)
    const other = await replay(prefix, '--definition', join(CANDIDATES, 'kettle.ts'), '--type', 'boiler')
    expect(other.code).toBe(1)
    expect(other.stderr).toContain('twin: TWIN_ERR_REPLAY_DEFINITION: the definition is of type "kettle", and the replay is of "boiler"')
    const unknown = await replay(prefix, '--definition', join(CANDIDATES, 'kettle.ts'))
    expect(unknown.stderr).toContain('"kettle", which the running definitions do not have')
  }, 120_000)

  it('a data set that retains nothing is refused with what to set', async () => {
    engine = new EngineProcess({ SHARDS: '2', TWINS_DIR: TWINS, RULES_DIR: NO_RULES })
    await engine.start()
    const { code, stderr } = await run(process.execPath, [join(ROOT, 'bin/twin.js'), 'replay', '--definition', join(CANDIDATES, 'boiler.ts')], {
      cwd: ROOT, env: { ...process.env, DATA_DIR: engine.dataDir, TWINS_DIR: TWINS, RULES_DIR: NO_RULES, LOG_LEVEL: 'warn' }, timeout: 60_000,
    }).then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e)
    expect(code).toBe(1)
    expect(stderr).toContain('twin: TWIN_ERR_REPLAY_UNAVAILABLE: this data set retains no input to replay: start the engine with RETAIN_INPUT_MS')
  }, 60_000)
})
