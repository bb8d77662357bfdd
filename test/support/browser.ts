import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext } from 'playwright-core'

/** Debian's chromium (.ci/run installs it); playwright-core drives it over CDP, nothing is downloaded. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/**
 * A real headless Chromium with a fresh profile. Flags keep it off the network
 * (no component updates, sync or QUIC) so tests talk only to the local engine.
 */
export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  // A fresh profile per launch (playwright passes it as --user-data-dir).
  const profile = mkdtempSync(join(tmpdir(), 'twin-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1440, height: 1000 },
    deviceScaleFactor: 1,
  })
  return {
    context,
    async close() {
      await context.close().catch(() => undefined)
      rmSync(profile, { recursive: true, force: true })
    },
  }
}

/**
 * Tests serve the real build: made by `npm ci` (prepare); built here when
 * missing (a checkout without install) or older than a source it is built
 * from (the console's, or the client it bundles), so a test never runs
 * against a stale console.
 */
export async function ensureConsoleBuilt(): Promise<void> {
  const { CONSOLE_APP, CONSOLE_DIR, buildConsole } = await import('../../src/console/build.ts')
  const builtAt = statSync(join(CONSOLE_DIR, 'index.html'), { throwIfNoEntry: false })?.mtimeMs
  if (builtAt === undefined || newestSource([CONSOLE_APP, join(CONSOLE_APP, '../../client')]) > builtAt) await buildConsole()
}

function newestSource(dirs: string[]): number {
  let newest = 0
  for (const dir of dirs) {
    for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
      if (f.includes('node_modules')) continue
      newest = Math.max(newest, statSync(join(dir, f)).mtimeMs)
    }
  }
  return newest
}
