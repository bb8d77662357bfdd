import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
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
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..')
export const CONSOLE_APP = join(ROOT, 'src/console/app')
export const CONSOLE_DIR = join(ROOT, 'dist/console')

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
  log.warn({ dir: CONSOLE_DIR }, 'the console is not built (run npm ci or npm run build:console); building it now')
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
  await buildConsole()
  process.stdout.write(`console built into ${CONSOLE_DIR} in ${Date.now() - started} ms\n`)
}
