import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import type { Page } from 'playwright-core'
import { afterAll, describe, expect, it } from 'vitest'
import { ensureConsoleBuilt, launchChromium } from '../support/browser.ts'
import { ROOT, waitFor } from '../support/env.ts'
import { LocalCluster } from '../support/localCluster.ts'

/**
 * The console during a rolling upgrade, in real headless Chromium against a
 * real multi-process engine (a front with ingest and api, worker processes
 * on two definition versions of one type, one redis-server): the cluster view
 * makes the mixed fleet and the held twins obvious, and the overview shows
 * what the front's start-up check of its definitions found.
 */
const V1 = join(ROOT, 'test/fixtures/lifecycle/v1')
const V2 = join(ROOT, 'test/fixtures/lifecycle/v2')
const NO_RULES = join(ROOT, 'test/fixtures/lifecycle/no-rules')
const TANKS = 24

let cluster: LocalCluster | undefined
let client: MqttClient | undefined
let browser: Awaited<ReturnType<typeof launchChromium>> | undefined

afterAll(async () => {
  client?.end(true)
  await browser?.close()
  await cluster?.stop()
})

describe('operator console: the cluster in a rolling upgrade (headless Chromium, worker processes on two versions)', () => {
  it('shows each worker\'s definition versions and calls out the mixed fleet, the held twins per shard, and the stored twins the definitions cannot handle', async () => {
    await ensureConsoleBuilt()
    cluster = new LocalCluster({ TWINS_DIR: V1, RULES_DIR: NO_RULES, SHARDS: '16' })
    await cluster.start(1)
    cluster.spawnWorker({ TWINS_DIR: V2 })
    await cluster.waitForWorkers(2)
    const front = cluster.front
    browser = await launchChromium()
    const page = await browser.context.newPage()

    // Two workers, v1 and v2 of `tank`: the cluster view says so at the top and per worker.
    await page.goto(`${front.httpUrl}/ui/cluster`)
    await expect.poll(() => page.locator('[data-testid=mixed-versions] li[data-type=tank]').textContent(), { timeout: 10_000 }).toBe('tank: v1 on 1 worker(s), v2 on 1 worker(s)')
    expect((await page.locator('[data-testid=workers] td[data-version-of=tank]').allTextContents()).sort()).toEqual(['v1', 'v2'])
    expect(await page.locator('[data-testid=workers] td.version.mixed').count()).toBe(2)

    // Tanks created on either worker are stored at its version.
    client = await mqtt.connectAsync(front.mqttUrl, { clientId: `console-rollout-${process.pid}` })
    const publishAll = (seq: number) => Promise.all(Array.from({ length: TANKS }, (_, i) => client!.publishAsync(`devices/tank/k${i}/inc`, JSON.stringify({ seq }), { qos: 1 })))
    await publishAll(1)
    const stored = await waitFor('every tank stored', async () => {
      const c = (await front.get('/twins/counts?type=tank'))?.types.tank
      return c?.total === TANKS ? (c.versions as Record<string, number>) : null
    })
    const atV2 = stored[2] ?? 0
    expect(atV2).toBeGreaterThan(0)

    // The v2 worker stops half way: the v1 worker owns every shard, and input of the v2 tanks is held.
    await cluster.kill(1, 'SIGTERM')
    await cluster.waitForWorkers(1)
    await publishAll(2)
    await waitFor('the v2 tanks held', async () => (await front.get('/cluster'))?.shards.reduce((n: number, s: { heldTwins: number }) => n + s.heldTwins, 0) === atV2)
    await expect.poll(() => page.locator('[data-testid=held-twins] strong').textContent(), { timeout: 10_000 }).toBe(`${atV2} twin(s) held`)
    expect(await page.locator('[data-testid=mixed-versions]').count()).toBe(0)
    const held = await page.locator('[data-testid=shards] .shard.holding').evaluateAll((tiles) => tiles.map((t) => Number(t.getAttribute('data-held'))))
    expect(held.reduce((a, b) => a + b, 0)).toBe(atV2)
    expect(await page.locator('[data-testid=shards] .shard.holding .held-count').first().textContent()).toMatch(/^ · \d+ held$/)

    // A front restarted on v1 finds, at start, stored twins it cannot step: the overview shows it to admins.
    await front.kill('SIGTERM')
    await front.start()
    await page.goto(`${front.httpUrl}/ui/`)
    await expect.poll(() => page.locator('[data-testid=definition-problems]').textContent(), { timeout: 10_000 })
      .toContain(`${atV2} twins of "tank" are stored at version 2, newer than this engine's 1`)
    expect(await page.locator('[data-testid=version-tank]').textContent()).toBe('v1')
    await expect.poll(() => storedChips(page)).toEqual(expect.arrayContaining([`v2: ${atV2} warn`]))
  }, 180_000)
})

/** The stored-version chips of the tank card, with ` warn` when not the version the engine runs. */
function storedChips(page: Page): Promise<string[]> {
  return page.locator('[data-testid=stored-tank] .chip').evaluateAll((chips) => chips.map((c) => `${c.textContent}${c.classList.contains('warn') ? ' warn' : ''}`))
}
