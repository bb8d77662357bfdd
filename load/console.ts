/**
 * The operator console under a fleet's load (issue #13), in real headless
 * Chromium against a real engine: not a timed test, a measurement.
 *
 *   npx tsx load/console.ts [--twins 10000] [--rate 1000] [--seconds 60]
 *
 * 1. Seeds N elevators over MQTT, then measures the time to first render
 *    (navigation start to the first drawn data) of the overview, the twin list
 *    and a twin page (its statechart laid out and highlighted).
 *    The overview counts as rendered once the live counts are drawn
 *    (online/offline of the elevators, from GET /twins/counts).
 * 2. Opens the overview, the twin list, the derived-events feed (all types)
 *    and a busy twin's page side by side, then drives RATE changes/s across
 *    the N twins for SECONDS (idle → moving → idle trips and loads crossing
 *    the rated load, so states change and `overload`/`tripCompleted` events
 *    flow), and reports per page the JS heap (CDP Performance.getMetrics)
 *    at the start and the end, and the frames dropped (requestAnimationFrame
 *    gaps, counted in 60 Hz frames) during the run. Meanwhile it reads
 *    GET /twins/counts once a second, as an overview polls it, and reports
 *    its latency and size (the cost ADR 0031 weighs), and the machine's load
 *    average (the box is shared: numbers mean little without it).
 *
 * Results: printed, and written to load/results/console-<time>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import mqtt from 'mqtt'
import type { Page } from 'playwright-core'
import { ensureConsoleBuilt, launchChromium } from '../test/support/browser.ts'
import { EngineProcess } from '../test/support/engineProcess.ts'
import { ROOT } from '../test/support/env.ts'

const options = new Command()
  .option('--twins <n>', 'elevators in the fleet', '10000')
  .option('--rate <n>', 'changes per second in total', '1000')
  .option('--seconds <n>', 'length of the load period', '60')
  .parse()
  .opts<{ twins: string; rate: string; seconds: string }>()
const TWINS = Number(options.twins)
const RATE = Number(options.rate)
const SECONDS = Number(options.seconds)
const TOKEN = 'console-load-admin'
const idOf = (i: number) => `e${String(i).padStart(5, '0')}`
/** WebSocket frames each page received, and its sockets opened (a reconnect opens another). */
const wsFrames = new Map<Page, { frames: number; sockets: number }>()

/**
 * Counts animation frames in the page. A string, not a function: tsx wraps named inner
 * functions in a helper (`__name`) that does not exist in the page.
 */
const startFrameCounter = `(() => {
  const state = { frames: 0, dropped: 0, longest: 0 }
  globalThis.__frames = state
  let last = performance.now()
  const tick = (now) => {
    const dt = now - last
    last = now
    state.frames++
    state.longest = Math.max(state.longest, Math.round(dt))
    // A gap of k frame intervals means k - 1 frames were not drawn.
    state.dropped += Math.max(0, Math.round(dt / (1000 / 60)) - 1)
    requestAnimationFrame(tick)
  }
  requestAnimationFrame(tick)
})()`

await ensureConsoleBuilt()
const engine = new EngineProcess({
  DEMO: '0', LOG_LEVEL: 'warn', AUTH: 'tokens', API_TOKENS: `${TOKEN}:admin`, RATE_LIMIT_MAX: '0',
  TWIN_CACHE_SIZE: String(TWINS * 2), KEY_PREFIX: `console-load-${Date.now()}:`,
})
await engine.start()
const device = await mqtt.connectAsync(engine.mqttUrl, { clientId: `load-${process.pid}`, reconnectPeriod: 0 })
const browser = await launchChromium()

try {
  // 1. Seed: one heartbeat per twin, 500 in flight at a time.
  const seedStart = Date.now()
  for (let i = 0; i < TWINS; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, TWINS - i) }, (_, k) => device.publishAsync(`devices/elevator/${idOf(i + k)}/heartbeat`, '{}', { qos: 1 })))
  }
  await waitUntil(async () => (await (await fetch(`${engine.httpUrl}/cluster`, { headers: { authorization: `Bearer ${TOKEN}` } })).json() as { shards: Array<{ lag: number }> }).shards.every((s) => s.lag === 0))
  console.log(`seeded ${TWINS} elevators in ${Date.now() - seedStart} ms`)

  // 2. Time to first render, each in a fresh tab after sign-in.
  const firstRender = {
    overview: await timeToRender('', '[data-testid=online-elevator]'),
    twinList: await timeToRender('twins?type=elevator', '[data-testid=twin-rows] .row'),
    twinPage: await timeToRender(`twins/elevator/${idOf(7)}`, '.statechart g.state.current'),
  }
  console.log('time to first render (ms):', firstRender)

  // 3. Four views open while the fleet changes RATE times a second.
  const views: Record<string, Page> = {
    overview: await openSigned(''),
    twinList: await openSigned('twins?type=elevator'),
    eventsFeed: await openSigned('events'),
    twinPage: await openSigned(`twins/elevator/${idOf(7)}`),
  }
  await views.twinList!.waitForSelector('[data-testid=twin-rows] .row')
  await views.twinPage!.waitForSelector('.statechart g.state.current')
  await sleep(2000)
  const before: Record<string, number> = {}
  for (const [name, page] of Object.entries(views)) before[name] = await heapUsed(page)
  // Chromium draws only the page in front (the others get about one frame a second), so each
  // view is brought to the front for a quarter of the run while all four receive the live data.
  const frames: Record<string, object> = {}
  const watch = async () => {
    const window = (SECONDS * 1000) / Object.keys(views).length
    for (const [name, page] of Object.entries(views)) {
      await page.bringToFront()
      await page.evaluate(startFrameCounter)
      const framesBefore = wsFrames.get(page)!.frames
      await sleep(window / 2)
      const midway = name === 'eventsFeed' ? await page.locator('p.muted').first().textContent() : ''
      await sleep(window / 2 - 500)
      const wsMessagesPerSec = Math.round((wsFrames.get(page)!.frames - framesBefore) / ((window - 500) / 1000))
      const live = await page.locator('[data-live]').getAttribute('data-live')
      const counted = await page.evaluate(() => (globalThis as any).__frames as { frames: number; dropped: number; longest: number })
      const shown = name === 'eventsFeed' ? await page.locator('p.muted').first().textContent() : name === 'twinPage' ? await page.locator('[data-testid=current-state]').textContent() : ''
      frames[name] = { ...counted, windowS: Math.round((window - 500) / 100) / 10, wsMessagesPerSec, sockets: wsFrames.get(page)!.sockets, live: live ?? '', shown: midway || shown || '' }
    }
  }
  const loadBefore = loadavg()
  const countsIdle = await sampleCounts(5, 200)
  const [sent, , countsUnderLoad] = await Promise.all([drive(device, RATE, SECONDS), watch(), sampleCounts(SECONDS - 2, 1000)])
  const loadAfter = loadavg()
  const after: Record<string, object> = {}
  for (const [name, page] of Object.entries(views)) {
    after[name] = { heapStartMB: mb(before[name]!), heapAfterMB: mb(await heapUsed(page)), ...frames[name] }
  }
  const result = {
    at: new Date().toISOString(), twins: TWINS, ratePerSec: RATE, seconds: SECONDS, sent, firstRenderMs: firstRender, views: after,
    countsPoll: { idle: countsIdle, underLoad: countsUnderLoad },
    loadAverage: { before: loadBefore.map(round1), after: loadAfter.map(round1) },
  }
  console.log(JSON.stringify(result, null, 2))
  mkdirSync(join(ROOT, 'load/results'), { recursive: true })
  writeFileSync(join(ROOT, `load/results/console-${Date.now()}.json`), JSON.stringify(result, null, 2))
} finally {
  device.end(true)
  await browser.close()
  await engine.destroy()
}

async function openSigned(rel: string): Promise<Page> {
  const page = await browser.context.newPage()
  const count = { frames: 0, sockets: 0 }
  wsFrames.set(page, count)
  page.on('websocket', (ws) => {
    count.sockets++
    ws.on('framereceived', () => void count.frames++)
  })
  await page.goto(`${engine.httpUrl}/ui/`)
  await page.locator('#token').fill(TOKEN)
  await page.locator('button[type=submit]').click()
  await page.locator('header.top').waitFor()
  if (rel) await page.goto(`${engine.httpUrl}/ui/${rel}`)
  return page
}

/** Navigation start to the first time `selector` is in the page, in the page's own clock. */
async function timeToRender(rel: string, selector: string): Promise<number> {
  const page = await openSigned('')
  await page.goto('about:blank')
  await page.goto(`${engine.httpUrl}/ui/${rel}`, { waitUntil: 'commit' })
  const at = await page.waitForFunction((sel) => document.querySelector(sel) && performance.now(), selector, { polling: 'raf', timeout: 60_000 })
  const ms = Math.round((await at.jsonValue()) as number)
  await page.close()
  return ms
}

/** GET /twins/counts `n` times, `everyMs` apart: latency (ms) and answer size, as the overview's poll sees them. */
async function sampleCounts(n: number, everyMs: number): Promise<{ n: number; p50Ms: number; p95Ms: number; maxMs: number; bytes: number }> {
  const ms: number[] = []
  let bytes = 0
  for (let i = 0; i < n; i++) {
    const started = performance.now()
    const res = await fetch(`${engine.httpUrl}/twins/counts`, { headers: { authorization: `Bearer ${TOKEN}` } })
    bytes = (await res.arrayBuffer()).byteLength
    ms.push(performance.now() - started)
    await sleep(everyMs)
  }
  ms.sort((a, b) => a - b)
  const at = (q: number) => round1(ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]!)
  return { n, p50Ms: at(0.5), p95Ms: at(0.95), maxMs: round1(ms[ms.length - 1]!), bytes }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10
}

async function heapUsed(page: Page): Promise<number> {
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('Performance.enable')
  const { metrics } = await cdp.send('Performance.getMetrics')
  await cdp.detach()
  return metrics.find((m: { name: string }) => m.name === 'JSHeapUsedSize')?.value ?? 0
}

/** RATE events/s for SECONDS, in 10 ms slices; each twin cycles load 500 kg, moving, arrived, load 1500 kg. */
async function drive(client: mqtt.MqttClient, rate: number, seconds: number): Promise<number> {
  const step = new Map<number, number>()
  const perSlice = rate / 100
  let sent = 0
  let owed = 0
  const start = Date.now()
  let cursor = 0
  while (Date.now() - start < seconds * 1000) {
    owed += perSlice
    const batch: Promise<unknown>[] = []
    for (; owed >= 1; owed--) {
      const i = cursor++ % TWINS
      const k = step.get(i) ?? 0
      step.set(i, k + 1)
      const [event, payload] = [['load', { kg: 500 }], ['moving', { fromFloor: 0, toFloor: 5 }], ['arrived', { floor: 5 }], ['load', { kg: 1500 }]][k % 4] as [string, object]
      batch.push(client.publishAsync(`devices/elevator/${idOf(i)}/${event}`, JSON.stringify(payload), { qos: 0 }))
      sent++
    }
    await Promise.all(batch)
    const due = start + ((sent / rate) * 1000)
    await sleep(Math.max(0, due - Date.now()))
  }
  return sent
}

async function waitUntil(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check().catch(() => false)) return
    await sleep(500)
  }
  throw new Error('timed out waiting for the engine to catch up')
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function mb(bytes: number): number {
  return Math.round((bytes / 1024 / 1024) * 10) / 10
}
