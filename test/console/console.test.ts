import { mkdirSync } from 'node:fs'
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
 * demo fleet), with a real MQTT client as the device. CONSOLE_SCREENSHOTS=1
 * writes docs/console-*.png from the run.
 */
const ADMIN = 'console-admin-token'
const READER = 'console-read-token'
const XSS = '<img src=x onerror=alert(1)>'
const LIFT = 'lift-7'

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
    })
    await engine.start()
    browser = await launchChromium()
    device = await mqtt.connectAsync(engine.mqttUrl, { clientId: `elevator/${LIFT}`, reconnectPeriod: 0 })
    device.on('error', () => undefined)
    // The lift exists with an attribute an attacker chose.
    await device.publishAsync(`devices/elevator/${LIFT}/attributes`, JSON.stringify({ building: 'b1', note: XSS }), { qos: 1 })
    await device.publishAsync(`devices/elevator/${LIFT}/heartbeat`, '{}', { qos: 1 })
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
    await expect.poll(() => page.locator('[data-testid=indicators-elevator]').textContent()).toMatch(/online \d+ \/ \d+/)
    expect(page.url()).toBe(`${engine.httpUrl}/ui/`)
    expect(await page.evaluate(() => sessionStorage.getItem('twin-engine.console.token'))).toBe(ADMIN)
    // Admin sees cluster and dead letters.
    expect(await page.locator('header.top nav a', { hasText: 'Cluster' }).count()).toBe(1)
    await waitFor('the engine counts ingest', () => page.locator('[data-testid=ingest-rate] .value').textContent().then((t) => t?.includes('events/s')))
    if (shots) await page.screenshot({ path: shotPath('console-overview.png') })
    await page.close()
  }, 60_000)

  it('shows per-state counts from GET /twins/counts in the agreed shape once the engine serves it', async () => {
    // The core adds this route; until then the page says it is not available (checked above by the
    // missing note). Here the browser answers it in the agreed shape, to check the overview reads it.
    const page = await newPage(browser.context)
    await signIn(page, ADMIN)
    await page.route('**/twins/counts', (route) => route.fulfill({
      contentType: 'application/json',
      body: JSON.stringify({ types: { elevator: { total: 5, states: { idle: 3, fault: 2 }, tags: { operative: 3 } } } }),
    }))
    await page.goto(`${engine.httpUrl}/ui/`)
    await expect.poll(() => page.locator('[data-testid=total-elevator]').textContent()).toBe('5 twins')
    expect(await page.locator('.type-card[data-type=elevator] tr[data-state=fault] td.num').textContent()).toBe('2')
    expect(await page.locator('[data-testid=counts-missing]').count()).toBe(0)
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
    const command = await waitFor('the command on MQTT', () => commands[0])
    if (shots) await page.screenshot({ path: shotPath('console-twin.png'), fullPage: true })
    await device.publishAsync(`devices/elevator/${LIFT}/ack`, JSON.stringify({ id: command.id, ok: true, reported: { rebooted: true } }), { qos: 1 })
    await page.locator('tr[data-command=reboot][data-status=acked]').waitFor()
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

  it('opened every WebSocket with a single-use ticket, never with the token', () => {
    expect(sockets.length).toBeGreaterThan(0)
    for (const url of sockets) {
      expect(url).toMatch(/\/ws\?ticket=[\w-]{43}$/)
      expect(url).not.toContain(ADMIN)
      expect(url).not.toContain(READER)
    }
  })
})

function shotPath(name: string): string {
  mkdirSync(join(ROOT, 'docs'), { recursive: true })
  return join(ROOT, 'docs', name)
}
