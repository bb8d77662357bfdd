import { readFileSync, readdirSync, statSync } from 'node:fs'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { Logger } from 'pino'
import { CONSOLE_DIR, NO_BUILD_TOOLS, buildConsoleInBackground, canBuildConsole } from '../console/build.ts'
import { TwinError } from '../errors.ts'

/**
 * The operator console (src/console/app, docs/adr/0030-operator-console.md),
 * served from its build under `/ui/`; `/` redirects there.
 *
 * Every console path that is not a file of the build answers the app's
 * index.html, so deep links (`/ui/twins/elevator/e-12`) open directly. The
 * build uses relative asset URLs; index.html gets a `<base href>` of `../`
 * per path segment below `/ui/`, so the console works unchanged behind a
 * reverse proxy that serves the engine under a path prefix.
 *
 * A missing build (a checkout run without `npm ci`) is built in the
 * background at start; meanwhile the console answers 503. A production
 * install has no Vite to build with (ADR 0032): then the log says once, and
 * `/ui/` answers 404, how to build it; the API works as ever.
 */

/** No inline script or style, no eval: twin data can never run as code (issue #13). */
export const CONSOLE_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "font-src 'self'",
  "connect-src 'self'", "worker-src 'self' blob:", "manifest-src 'self'", "base-uri 'self'", "form-action 'self'",
  "frame-ancestors 'none'", "object-src 'none'",
].join('; ')

const SEGMENT = /[^/]+/g

export async function consoleRoutes(app: FastifyInstance, log: Logger): Promise<void> {
  await app.register(fastifyStatic, { serve: false })
  let index: string | null = null
  let files = new Set<string>()
  let builtAt = 0
  /** (Re)reads the build when its index.html is new: `npm run build:console` under a running engine is picked up. */
  const load = () => {
    const mtime = statSync(`${CONSOLE_DIR}/index.html`, { throwIfNoEntry: false })?.mtimeMs
    if (mtime === undefined) return false
    if (mtime !== builtAt) {
      files = new Set(readdirSync(CONSOLE_DIR, { recursive: true, encoding: 'utf8' }).map((f) => f.split('\\').join('/')))
      index = readFileSync(`${CONSOLE_DIR}/index.html`, 'utf8')
      builtAt = mtime
    }
    return true
  }
  let unbuildable = false
  if (!load()) {
    if (canBuildConsole()) buildConsoleInBackground(log).then(load, () => undefined)
    else {
      unbuildable = true
      log.warn({ dir: CONSOLE_DIR }, NO_BUILD_TOOLS)
    }
  }

  const secure = (reply: FastifyReply) => reply
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
  const notBuilt = () => new TwinError('TWIN_ERR_NOT_READY', 'the console is being built (npm run build:console); reload in a few seconds')
  const opts = { config: { scope: 'public' as const }, schema: { hide: true } }

  app.get('/', opts, async (_request, reply) => reply.redirect('ui/', 302))
  app.get('/ui', opts, async (_request, reply) => reply.redirect('ui/', 302))

  app.get<{ Params: { '*': string } }>('/ui/*', opts, async (request, reply) => {
    const rest = request.params['*']
    if (!rest.startsWith('assets/')) load()
    if (index === null) throw unbuildable ? new TwinError('TWIN_ERR_NOT_FOUND', NO_BUILD_TOOLS) : notBuilt()
    secure(reply)
    if (rest.startsWith('assets/') && files.has(rest)) {
      // Hashed file names: a new build has new names, so these never change.
      return reply.sendFile(rest, CONSOLE_DIR, { maxAge: '365d', immutable: true })
    }
    if (files.has(rest) && rest !== 'index.html') return reply.sendFile(rest, CONSOLE_DIR, { maxAge: 0 })
    const depth = (request.url.split('?')[0]!.slice('/ui/'.length).match(SEGMENT)?.length ?? 0) - (request.url.split('?')[0]!.endsWith('/') ? 0 : 1)
    const base = '../'.repeat(Math.max(0, depth)) || './'
    reply.header('cache-control', 'no-store').type('text/html; charset=utf-8')
    return index.replace('<head>', `<head><base href="${base}">`)
  })
}
