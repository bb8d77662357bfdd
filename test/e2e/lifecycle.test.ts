import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { EngineProcess } from '../support/engineProcess.ts'
import { ROOT, waitFor } from '../support/env.ts'

/**
 * A fleet on version 1 of a definition meets version 2 (a renamed state with
 * pending timers, a new context field, one twin its migration refuses):
 * `twin migrate --dry-run` counts exactly, the engine says at startup what it
 * cannot handle, `twin migrate` migrates through the running engine, and live
 * traffic afterwards causes no dead letter while the migrated timers fire.
 */

const V1 = join(ROOT, 'test/fixtures/lifecycle/v1')
const V2 = join(ROOT, 'test/fixtures/lifecycle/v2')
const NO_RULES = join(ROOT, 'test/fixtures/lifecycle/no-rules')
const run = promisify(execFile)

let engine: EngineProcess | undefined
afterEach(async () => {
  await engine?.destroy()
  engine = undefined
})

async function send(e: EngineProcess, id: string, event: string, payload: object = {}): Promise<void> {
  const res = await fetch(`${e.httpUrl}/twins/tank/${id}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ event, payload }) })
  expect(res.status).toBe(202)
}

/** `twin migrate` on the engine's data set (its managed Redis, its DATA_DIR), with the v2 definitions. */
async function migrate(e: EngineProcess, ...args: string[]): Promise<any> {
  const { stdout } = await run(process.execPath, [join(ROOT, 'bin/twin.js'), 'migrate', '--json', ...args], {
    cwd: ROOT,
    env: { ...process.env, DATA_DIR: e.dataDir, TWINS_DIR: V2, RULES_DIR: NO_RULES, LOG_LEVEL: 'warn' },
    timeout: 60_000,
  })
  return JSON.parse(stdout)
}

describe('definition lifecycle (real engine process, real Redis)', () => {
  it('a v1 fleet migrates to v2: exact dry run, startup report, twin migrate, then live traffic with no dead letter and timers firing', async () => {
    engine = new EngineProcess({ TWINS_DIR: V1, RULES_DIR: NO_RULES })
    await engine.start()
    // 14 idle (one of them, t0, with count 13: v2's migration refuses it) and 8 filling, each with a pending timer.
    for (let i = 0; i < 22; i++) await send(engine, `t${i}`, 'inc', { seq: 1 })
    for (let n = 2; n <= 13; n++) await send(engine, 't0', 'inc', { seq: n })
    for (let i = 10; i < 18; i++) await send(engine, `t${i}`, 'fill')
    await waitFor('fleet applied', async () => (await engine!.get('/twins/counts?type=tank'))?.types.tank.states.filling === 8)
    await engine.kill('SIGTERM')

    const dry = await migrate(engine, '--dry-run')
    expect(dry.types.tank).toMatchObject({ version: 2, current: 0, wouldMigrate: { 1: 21 }, wouldFail: 1, ahead: 0 })
    expect(dry.types.tank.failures).toEqual([{ twin: 'tank/t0', from: 1, why: expect.stringContaining('count 13 is not supported') }])
    expect(dry.scanned).toBe(22)

    engine = Object.assign(new EngineProcess({ TWINS_DIR: V2, RULES_DIR: NO_RULES }), { dataDir: engine.dataDir })
    await engine.start()
    const health = await engine.get('/health')
    expect(health.definitions).toMatchObject({ versions: { tank: 2 }, stored: { tank: { 1: 22 } } })
    expect(health.definitions.problems.join('\n')).toMatch(/1 of 22 sampled stored twins cannot be restored or migrated.*count 13 is not supported/)

    const done = await migrate(engine)
    expect(done.job).toMatchObject({ scanned: 22, queued: 22 })
    expect(done.after.tank).toEqual({ 1: 1, 2: 21 })

    // Live traffic on the migrated twins: no dead letter; the renamed timers fire.
    for (let i = 1; i < 22; i++) await send(engine, `t${i}`, 'inc', { seq: 2 })
    const twins = await waitFor('v2 applied everywhere', async () => {
      const page = await engine!.get('/twins?type=tank&limit=100')
      const live = page.twins.filter((t: { id: string }) => t.id !== 't0')
      return live.every((t: { context: { count: number } }) => t.context.count === 2) ? live : null
    })
    expect(twins.every((t: { context: { unit: string; dupes: number; gaps: number } }) => t.context.unit === 'l' && t.context.dupes === 0 && t.context.gaps === 0)).toBe(true)
    const full = await waitFor('timers fired after the migration', async () => {
      const c = (await engine!.get('/twins/counts?type=tank')).types.tank
      return c.states.full === 8 ? c : null
    }, 30_000)
    expect(full.states.loading).toBeUndefined()
    // The one dead letter is the refused migration of t0, recorded when twin migrate queued it; live traffic added none.
    const dead = await engine.get('/dead-letters?limit=10')
    expect(dead.deadLetters.map((d: { code: string; twin: string; event: string }) => [d.code, d.twin, d.event])).toEqual([['TWIN_ERR_MIGRATION_FAILED', 'tank/t0', '$migrate']])
    // The refused twin is kept as it was, at version 1.
    const kept = await engine.get('/twins/tank/t0')
    expect(kept).toMatchObject({ value: 'idle', context: { count: 13 } })
    expect((await engine.get('/twins/counts?type=tank')).types.tank.versions).toEqual({ 1: 1, 2: 21 })
  }, 120_000)
})
