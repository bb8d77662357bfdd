import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Logger } from 'pino'

/**
 * Builds the operator console (src/console/app) with Vite into dist/console.
 *
 * Runs on `npm ci` (the `prepare` script) and, when the build is missing, at
 * engine start (src/api/consoleRoutes.ts), so `npm ci && npm start` serves it
 * and no build output is committed. The build goes to a folder of its own and
 * is renamed into place at the end: several engines starting at once from one
 * checkout (tests) never serve a half-written build.
 *
 * Vite and the console's browser libraries are dev dependencies
 * (docs/adr/0032-console-build-tools-are-dev-dependencies.md): a production
 * install (`npm ci --omit=dev`, the image) runs without them and serves the
 * build it was given. Without Vite the build is skipped with a message saying
 * how to make it, never an install or start that fails.
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..')
export const CONSOLE_APP = join(ROOT, 'src/console/app')
export const CONSOLE_DIR = join(ROOT, 'dist/console')

const NO_VITE = 'Vite is a dev dependency, left out by a production install (npm ci --omit=dev). '
  + 'Build the console where dev dependencies are installed (npm ci, or npm run build:console) and ship dist/console with the engine; the image carries it.'
/** What to do when the console is not built and this install cannot build it. */
export const NO_BUILD_TOOLS = `the console is not built, and this install cannot build it: ${NO_VITE}`

/** True when Vite is installed here (a development install), so the console can be built. */
export function canBuildConsole(): boolean {
  try {
    createRequire(import.meta.url).resolve('vite')
    return true
  } catch {
    return false
  }
}

export async function buildConsole(outDir = CONSOLE_DIR): Promise<void> {
  const { build } = await import('vite')
  const temp = `${outDir}.building-${process.pid}-${Date.now()}`
  mkdirSync(dirname(outDir), { recursive: true })
  await build({
    configFile: false,
    root: CONSOLE_APP,
    // Relative asset URLs: the console works under any path prefix (consoleRoutes adds <base href>).
    base: './',
    logLevel: 'warn',
    oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
    // The typed WebSocket client, straight from its source (the package's public `twin-engine/client`).
    resolve: { alias: { 'twin-engine/client': join(ROOT, 'src/client/index.ts') } },
    build: { outDir: temp, emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 2048, modulePreload: { polyfill: false } },
  })
  rmSync(outDir, { recursive: true, force: true })
  try {
    renameSync(temp, outDir)
  } catch (err) {
    // Another process put its build in place first: keep that one.
    rmSync(temp, { recursive: true, force: true })
    if (!existsSync(join(outDir, 'index.html'))) throw err
  }
}

/** Builds in a child process (the engine's event loop stays free); resolves when dist/console is in place. */
export function buildConsoleInBackground(log: Logger): Promise<void> {
  log.warn({ dir: CONSOLE_DIR }, 'the console is not built (npm ci or npm run build:console makes it); building it now')
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)))
    child.on('error', reject)
    child.on('exit', (code) => {
      if (code === 0) {
        log.info('console built')
        resolve()
      } else {
        log.error({ code, stderr }, 'building the console failed; run npm run build:console to see why')
        reject(new Error(`console build exited ${code}`))
      }
    })
  })
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now()
  if (!canBuildConsole()) {
    // `npm ci --omit=dev` runs `prepare` too: a production install must not fail for want of a build tool.
    process.stdout.write(`console build skipped: ${NO_VITE}\n`)
  } else {
    await buildConsole()
    process.stdout.write(`console built into ${CONSOLE_DIR} in ${Date.now() - started} ms\n`)
  }
}
