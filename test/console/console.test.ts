import { mkdirSync, readFileSync } from 'node:fs'
import { Redis } from 'ioredis'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureConsoleBuilt, launchChromium } from '../support/browser.ts'
import { EngineProcess } from '../support/engineProcess.ts'
import { ROOT, waitFor } from '../support/env.ts'

/**
 * The operator console in real headless Chromium against a real engine
 * (embedded broker, managed redis-server, the shipped twins and rules, a small
 * demo fleet, and a door twin with tags, a labelled state and an `online`
 * indicator the test turns off at once), with a real MQTT client as the
 * device. CONSOLE_SCREENSHOTS=1 writes docs/console-*.png from the run.
 */
const ADMIN = 'console-admin-token'
const READER = 'console-read-token'
const XSS = '<img src=x onerror=alert(1)>'
const LIFT = 'lift-7'
/** The shipped twins and the door (test/fixtures/console/twins). */
const TWINS = join(ROOT, 'test/fixtures/console/twins')
/** door-1 closed, door-2 open, door-3 forced open (the labelled state), door-4 closed with its link down. */
const DOORS: Array<[string, string, object]> = [
  ['door-1', 'link', { up: true }], ['door-2', 'opened', {}], ['door-3', 'forced', {}], ['door-4', 'link', { up: false }],
]

let engine: EngineProcess
let browser: Awaited<ReturnType<typeof launchChromium>>
let device: MqttClient
/** Every WebSocket address the pages opened, and every dialog (an alert would be script run from twin data). */
const sockets: string[] = []
const dialogs: string[] = []
const shots = process.env.CONSOLE_SCREENSHOTS === '1'

async function newPage(context: BrowserContext): Promise<Page> {
  const page = await context.newPage()
  page.on('websocket', (ws) => sockets.push(ws.url()))
  page.on('dialog', (d) => {
    dialogs.push(d.message())
    void d.dismiss()
  })
  return page
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.goto(`${engine.httpUrl}/`)
  await page.locator('#token').fill(token)
  await page.locator('button[type=submit]').click()
  await page.locator('header.top').waitFor()
}

describe('operator console (headless Chromium, real engine)', () => {
  beforeAll(async () => {
    await ensureConsoleBuilt()
    engine = new EngineProcess({
      AUTH: 'tokens',
      API_TOKENS: `${ADMIN}:admin,${READER}:read`,
      KEY_PREFIX: `console-${process.pid}-${Date.now()}:`,
      DEMO: '1',
      DEMO_DEVICES: '3',
      DEMO_INTERVAL_MS: '1500',
      TWINS_DIR: TWINS,
    })
    await engine.start()
    browser = await launchChromium()
    device = await mqtt.connectAsync(engine.mqttUrl, { clientId: `elevator/${LIFT}`, reconnectPeriod: 0 })
    device.on('error', () => undefined)
    // The lift exists with an attribute an attacker chose.
    await device.publishAsync(`devices/elevator/${LIFT}/attributes`, JSON.stringify({ building: 'b1', note: XSS }), { qos: 1 })
    await device.publishAsync(`devices/elevator/${LIFT}/heartbeat`, '{}', { qos: 1 })
    for (const [id, event, payload] of DOORS) await device.publishAsync(`devices/door/${id}/${event}`, JSON.stringify(payload), { qos: 1 })
    await waitFor('the doors counted', async () => (await engineGet('/twins/counts?type=door')).types.door.total === DOORS.length)
  }, 180_000)

  afterAll(async () => {
    device?.end(true)
    await browser?.close()
    await engine?.destroy()
  })

  it('a wrong token lands on sign-in with the engine\'s message', async () => {
    const page = await newPage(browser.context)
    await page.goto(`${engine.httpUrl}/ui/twins/elevator/${LIFT}`)
    await page.locator('#token').fill('not-the-right-token')
    await page.locator('button[type=submit]').click()
    await expect.poll(() => page.locator('[data-testid=sign-in-error]').textContent()).toContain('the API token is not valid')
    // A stored token that stops working (revoked, expired) also lands there, with the message.
    await page.evaluate(() => sessionStorage.setItem('twin-engine.console.token', 'revoked-token-1'))
    await page.reload()
    await expect.poll(() => page.locator('[data-testid=sign-in-error]').textContent()).toContain('not valid')
    await page.close()
  }, 60_000)

  it('signs in; the overview shows the fleet; the token stays out of every address', async () => {
    const page = await newPage(browser.context)
    await signIn(page, ADMIN)
    for (const type of ['elevator', 'charger', 'meter']) await page.locator(`.type-card[data-type=${type}]`).waitFor()
    await expect.poll(() => page.locator('.type-card[data-type=elevator] tr[data-state=fault]').count()).toBe(1)
    await page.locator('[data-live=live]').waitFor()
    await page.locator('[data-testid=shard-lag]').waitFor()
    // Counts come from GET /twins/counts: every demo elevator is counted, and the online indicator with them.
    await expect.poll(() => page.locator('[data-testid=total-elevator]').textContent()).toMatch(/^[1-9]\d* twins$/)
    await expect.poll(() => page.locator('[data-testid=online-line-elevator]').textContent()).toMatch(/^\s*\d+ online\s*\d+ offline\s*$/)
    expect(page.url()).toBe(`${engine.httpUrl}/ui/`)
    expect(await page.evaluate(() => sessionStorage.getItem('twin-engine.console.token'))).toBe(ADMIN)
    // Admin sees cluster and dead letters.
    expect(await page.locator('header.top nav a', { hasText: 'Cluster' }).count()).toBe(1)
    await waitFor('the engine counts ingest', () => page.locator('[data-testid=ingest-rate] .value').textContent().then((t) => t?.includes('events/s')))
    if (shots) await page.screenshot({ path: shotPath('console-overview.png') })
    await page.close()
  }, 60_000)

  it('the overview shows online/offline, states, tags and labels per type from the engine\'s counts, live; admins see the definitions', async () => {
    const page = await newPage(browser.context)
    await signIn(page, ADMIN)
    const text = (testid: string) => page.locator(`[data-testid=${testid}]`).textContent()
    // The doors: exact figures the test made (door-4's link is down).
    await expect.poll(() => text('total-door')).toBe('4 twins')
    await expect.poll(() => text('online-door')).toBe('3')
    expect(await text('offline-door')).toBe('1')
    const door = page.locator('.type-card[data-type=door]')
    expect(await door.locator('tr[data-state=closed] td.num').textContent()).toBe('2')
    // The state whose key XState could not take shows its label.
    expect(await door.locator('tr[data-state=Forced_Open] a').textContent()).toBe('Forced.Open')
    expect(await door.locator('tr[data-state=Forced_Open] td.num').textContent()).toBe('1')
    expect(await door.locator('[data-testid=tags-door] .chip').allTextContents()).toEqual(expect.arrayContaining(['secure 2', 'open 2', 'alarm 1']))
    // The demo fleet's elevators: what the engine counts.
    await expect.poll(async () => {
      const counts = (await engineGet('/twins/counts?type=elevator')).types.elevator
      return [await text('online-elevator'), await text('offline-elevator')].join(' ') === `${counts.indicators.online ?? 0} ${counts.total - (counts.indicators.online ?? 0)}`
    }).toBe(true)
    // Live: the door's link comes back, and the page follows without a reload.
    await device.publishAsync('devices/door/door-4/link', JSON.stringify({ up: true }), { qos: 1 })
    await expect.poll(() => text('offline-door'), { timeout: 10_000 }).toBe('0')
    expect(await text('online-door')).toBe('4')
    // Admins see the definition versions the engine runs and stores, and its start-up check.
    expect(await text('version-door')).toBe('v1')
    expect(await text('stored-door')).toContain('v1: 4')
    expect(await text('definitions-check')).toContain('no problems')
    await page.close()
  }, 60_000)

  it('the twin list filters by tag in the engine and lists exactly the twins with it', async () => {
    const page = await newPage(browser.context)
    const queries: string[] = []
    page.on('request', (r) => {
      const url = new URL(r.url())
      if (url.pathname === '/twins') queries.push(url.search)
    })
    await signIn(page, ADMIN)
    await page.goto(`${engine.httpUrl}/ui/twins?type=door`)
    await expect.poll(() => page.locator('[data-testid=twin-rows] .row').count()).toBe(4)
    // Through the form, as an operator does.
    await page.locator('input[name=tag]').fill('open')
    await page.locator('form.filters button[type=submit]').click()
    await expect.poll(() => page.locator('[data-testid=twin-rows] .row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-twin')).sort())).toEqual(['door/door-2', 'door/door-3'])
    expect(page.url()).toBe(`${engine.httpUrl}/ui/twins?type=door&tag=open`)
    await page.locator('[data-testid=list-status]').getByText('no more').waitFor()
    // The labelled state shows by its label in the list too.
    expect(await page.locator('.row[data-twin="door/door-3"] .state-text').textContent()).toBe('Forced.Open')
    // Any type, one tag, from a deep link: the engine filters (the request carries the tag).
    await page.goto(`${engine.httpUrl}/ui/twins?tag=alarm`)
    await expect.poll(() => page.locator('[data-testid=twin-rows] .row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-twin')))).toEqual(['door/door-3'])
    await page.locator('[data-testid=list-status]').getByText('no more').waitFor()
    const tags = queries.map((q) => new URLSearchParams(q).get('tag'))
    expect(tags).toContain('open')
    expect(tags).toContain('alarm')
    await page.close()
  }, 60_000)

  it('the twin page shows pending timers with when they fire, and a labelled state by its label', async () => {
    const page = await newPage(browser.context)
    await signIn(page, ADMIN)
    await page.goto(`${engine.httpUrl}/ui/twins/elevator/${LIFT}`)
    // The offline watchdog the lift's last message armed: due when the engine says, shown in both forms.
    const view = await engineGet(`/twins/elevator/${LIFT}`)
    const watchdog = view.timers.find((t: { id: string }) => t.id === 'offlineWatchdog')
    expect(watchdog.due).toBeGreaterThan(Date.now())
    const row = page.locator('[data-testid=timers] tr[data-timer=offlineWatchdog]')
    await row.waitFor()
    expect(Number(await row.getAttribute('data-due'))).toBe(watchdog.due)
    const at = await page.evaluate((due) => new Date(due).toLocaleTimeString(), watchdog.due)
    expect(await row.locator('[data-testid=timer-at]').textContent()).toBe(at)
    const inText = async () => (await row.locator('[data-testid=timer-in]').textContent()) ?? ''
    const first = await inText()
    const left = Math.round((watchdog.due - Date.now()) / 1000)
    expect(first).toMatch(/^in (1 min( \d+ s)?|\d+ s|2 min)$/)
    expect(Math.abs(secondsOf(first) - left)).toBeLessThanOrEqual(3)
    // It counts down.
    await expect.poll(inText, { timeout: 5000 }).not.toBe(first)

    // The door forced open: its state drawn and named by its label.
    await page.goto(`${engine.httpUrl}/ui/twins/door/door-3`)
    const state = page.locator('.statechart g.state.current[data-path=Forced_Open]')
    await state.waitFor()
    expect(await state.getAttribute('data-label')).toBe('Forced.Open')
    expect(await state.locator('text.state-label').textContent()).toBe('Forced.Open')
    expect(await page.locator('[data-testid=current-state]').textContent()).toBe('Forced.Open')
    // A twin with no pending timer says so.
    await page.locator('[data-testid=no-timers]').waitFor()
    await page.close()
  }, 60_000)

  it('the twin page at its deep link follows a fault published over MQTT without reloading; a command goes pending then acked; data renders as text', async () => {
    const page = await newPage(browser.context)
    await signIn(page, ADMIN)
    await page.goto(`${engine.httpUrl}/ui/twins/elevator/${LIFT}`)
    await page.locator('.statechart g.state.current[data-path=idle]').waitFor()
    await page.locator('[data-live=live]').waitFor()
    // The derived-events feed, open in another tab (its own session storage: signed in there too).
    const feed = await newPage(browser.context)
    await signIn(feed, ADMIN)
    await feed.goto(`${engine.httpUrl}/ui/events?type=elevator`)
    await feed.locator('[data-live=live]').waitFor()
    await feed.waitForTimeout(300)

    await device.publishAsync(`devices/elevator/${LIFT}/fault`, JSON.stringify({ code: 'E42' }), { qos: 1 })

    await page.locator('.statechart g.state.current[data-path=fault]').waitFor()
    expect(await page.locator('.statechart g.state.current').count()).toBe(1)
    await page.locator('.statechart g.edge.taken').first().waitFor()
    const step = page.locator('[data-testid=timeline] li[data-event=fault]')
    await step.waitFor()
    expect(await step.textContent()).toContain('idle → fault')
    await page.locator('[data-testid=twin-events] li[data-name=faulted]').waitFor()
    await feed.locator(`[data-testid=event-feed] .event-row[data-name=faulted][data-twin="elevator/${LIFT}"]`).waitFor()
    expect(await page.locator('[data-testid=current-state]').textContent()).toBe('fault')

    // Time travel: the step before the fault shows idle.
    const heartbeat = page.locator('[data-testid=timeline] li').filter({ hasNotText: 'fault' }).first()
    if (await heartbeat.count()) {
      await heartbeat.locator('button').click()
      await page.locator('[data-testid=time-travel]').waitFor()
      await page.locator('[data-testid=time-travel] button').click()
    }
    await step.locator('button').click()
    await page.locator('.statechart g.state.current[data-path=fault]').waitFor()
    await page.locator('[data-testid=time-travel] button').click()

    // The attacker's attribute is text, not markup.
    const attributes = page.locator('[data-testid=attributes]')
    expect(await attributes.textContent()).toContain(XSS)
    expect(await page.locator('[data-testid=attributes] img, img[src=x]').count()).toBe(0)

    // A command from the page: pending, then acked by the device.
    const commands: Array<{ id: string }> = []
    device.on('message', (topic, payload) => {
      if (topic === `devices/elevator/${LIFT}/commands/reboot`) commands.push(JSON.parse(payload.toString()))
    })
    await device.subscribeAsync(`devices/elevator/${LIFT}/commands/#`, { qos: 1 })
    await page.locator('input[name=command]').fill('reboot')
    await page.locator('textarea[name=command-payload]').fill('{"reason": "console test"}')
    await page.locator('.send-command button[type=submit]').click()
    await page.locator('tr[data-command=reboot][data-status=pending]').waitFor()
    // While pending, the command's timeout is a pending timer.
    expect(await page.locator('[data-testid=timers] tr[data-timer="$cmd:reboot"]').textContent()).toContain('command reboot times out')
    const command = await waitFor('the command on MQTT', () => commands[0])
    if (shots) await page.screenshot({ path: shotPath('console-twin.png'), fullPage: true })
    await device.publishAsync(`devices/elevator/${LIFT}/ack`, JSON.stringify({ id: command.id, ok: true, reported: { rebooted: true } }), { qos: 1 })
    await page.locator('tr[data-command=reboot][data-status=acked]').waitFor()
    await expect.poll(() => page.locator('[data-testid=timers] tr[data-timer="$cmd:reboot"]').count()).toBe(0)
    expect(await page.locator('tr[data-command=reboot]').textContent()).toContain('"rebooted":true')

    // A refusal shows the engine's own message.
    await page.locator('input[name=command]').fill('9-not-a-name')
    await page.locator('.send-command button[type=submit]').click()
    await expect.poll(() => page.locator('[data-testid=send-result]').textContent()).toContain('TWIN_ERR_COMMAND_INVALID')
    // The console checks a payload against the event's schema before sending.
    await page.locator('select[name=event]').selectOption('fault')
    await page.locator('textarea[name=payload]').fill('{"code": 42}')
    await page.locator('.send-event button[type=submit]').click()
    await expect.poll(() => page.locator('[data-testid=send-result]').textContent()).toContain('Not sent')

    expect(dialogs).toEqual([])
    await feed.close()
    await page.close()
  }, 120_000)

  it('a read-only token sees the twin page without send controls, cluster or dead letters', async () => {
    const context = (await launchChromium())
    try {
      const page = await newPage(context.context)
      await signIn(page, READER)
      // The overview's counts, without what is for admins (definition versions and check, lag, dead letters).
      await page.locator('[data-testid=online-door]').waitFor()
      expect(await page.locator('[data-testid=definitions-check], [data-testid=version-door], [data-testid=stored-door], [data-testid=shard-lag]').count()).toBe(0)
      await page.goto(`${engine.httpUrl}/ui/twins/elevator/${LIFT}`)
      await page.locator('.statechart g.state.current').waitFor()
      await page.locator('[data-testid=context]').waitFor()
      expect(await page.locator('[data-testid=send-panel]').count()).toBe(0)
      expect(await page.locator('header.top nav a', { hasText: 'Cluster' }).count()).toBe(0)
      expect(await page.locator('header.top nav a', { hasText: 'Dead letters' }).count()).toBe(0)
      await page.goto(`${engine.httpUrl}/ui/cluster`)
      await page.getByText('needs a token with the admin scope').waitFor()
    } finally {
      await context.close()
    }
  }, 60_000)

  it('the live indicator says when the engine\'s Redis refuses writes, and goes back to live when it takes them again', async () => {
    const page = await newPage(browser.context)
    await signIn(page, ADMIN)
    await page.goto(`${engine.httpUrl}/ui/twins/elevator/${LIFT}`)
    const indicator = page.locator('.live-indicator')
    await page.locator('[data-live=live]').waitFor()
    // Redis answers but refuses every write (as when it is out of memory): the engine says so on the socket.
    const redis = new Redis(Number(readFileSync(join(engine.dataDir, 'redis', 'port'), 'utf8')), '127.0.0.1', { lazyConnect: true })
    await redis.connect()
    try {
      await redis.config('SET', 'maxmemory', '1')
      await page.locator('[data-live=redis-away][data-redis=refusing-writes]').waitFor({ timeout: 10_000 })
      expect(await indicator.textContent()).toBe('paused: Redis refusing writes')
      expect(await indicator.getAttribute('title')).toContain('OOM')
    } finally {
      await redis.config('SET', 'maxmemory', '0')
      redis.disconnect()
    }
    await page.locator('[data-live=live][data-redis=up]').waitFor({ timeout: 10_000 })
    await page.close()
  }, 60_000)

  it('opened every WebSocket with a single-use ticket, never with the token', () => {
    expect(sockets.length).toBeGreaterThan(0)
    for (const url of sockets) {
      expect(url).toMatch(/\/ws\?ticket=[\w-]{43}$/)
      expect(url).not.toContain(ADMIN)
      expect(url).not.toContain(READER)
    }
  })
})

/** GET from the engine with the admin token. */
async function engineGet(path: string): Promise<any> {
  const res = await fetch(`${engine.httpUrl}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } })
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`)
  return res.json()
}

/** `in 1 min 59 s` -> 119 */
function secondsOf(text: string): number {
  let s = 0
  for (const [, n, unit] of text.matchAll(/(\d+) (min|s)/g)) s += Number(n) * (unit === 'min' ? 60 : 1)
  return s
}

function shotPath(name: string): string {
  mkdirSync(join(ROOT, 'docs'), { recursive: true })
  return join(ROOT, 'docs', name)
}
