import { randomUUID } from 'node:crypto'
import rateLimit from '@fastify/rate-limit'
import swagger from '@fastify/swagger'
import websocket from '@fastify/websocket'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { TwinError } from '../errors.ts'
import { presentedToken, type Principal, type Scope } from './auth.ts'
import { commandRoutes } from './commandRoutes.ts'
import { countRoutes } from './countRoutes.ts'
import { consoleRoutes } from './consoleRoutes.ts'
import type { ApiContext } from './context.ts'
import { effectsRoutes } from './effectsRoutes.ts'
import { errorHandler } from './httpErrors.ts'
import { inputRoutes } from './inputRoutes.ts'
import { opsRoutes } from './opsRoutes.ts'
import { sessionRoutes } from './sessionRoutes.ts'
import { greetWithStatus, redisGate } from './redisGate.ts'
import { twinRoutes } from './twinRoutes.ts'
import { WsHub } from './ws/hub.ts'
import { LIMITS } from './ws/schemas.ts'
import { WsTickets } from './wsTickets.ts'


/** What a route needs: a scope, or `public` (health, readiness, the OpenAPI document). */
export type RouteAccess = Scope | 'public'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Routes without one need `admin`: a new route is closed until it says otherwise. */
    scope?: RouteAccess
  }
  interface FastifyRequest {
    /** who sent the request: set for every request, null without a valid token */
    principal: Principal | null
  }
}

/** A client's request id is kept when it is short and plain, so logs can be joined across services. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/

/** The HTTP + WebSocket API (docs/http.md, docs/protocol.md). Tests drive it with `app.inject` and real sockets. */
export async function buildApi(ctx: ApiContext, log: Logger): Promise<FastifyInstance> {
  const app = Fastify({
    ...(ctx.https ? { https: ctx.https } : {}),
    loggerInstance: log.child({ component: 'api' }) as FastifyBaseLogger,
    // One log line per request would dominate the log at fleet rates: see the onResponse hook.
    logController: new LogController({ disableRequestLogging: true }),
    // An event body carries one device payload plus a little envelope.
    bodyLimit: ctx.maxPayloadBytes + 4096,
    // Errors fastify raises before routing (a URL that does not decode, …) get the engine's error shape too.
    frameworkErrors: (err, _request, reply) => {
      void (reply as unknown as FastifyReply).status(400).send({ error: { code: 'TWIN_ERR_BAD_REQUEST', message: err.message } })
    },
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
  })
  app.setErrorHandler(errorHandler)
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({ error: { code: 'TWIN_ERR_NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]!.slice(0, 200)}` } })
  })
  app.decorateRequest('principal', null)
  const tickets = new WsTickets(ctx.redis, ctx.keys)

  // 1. Who is it (never refuses): the rate limit keys on it, the log names it.
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
    const query = request.routeOptions.url === '/ws' ? (request.query as Record<string, unknown> | undefined) : undefined
    // A WebSocket ticket (POST /ws-ticket) stands for the token that asked for it, once.
    request.principal = typeof query?.ticket === 'string' && ctx.auth.mode === 'tokens' && request.headers.authorization === undefined
      ? await tickets.redeem(query.ticket)
      : ctx.auth.identify(presentedToken(request.headers.authorization, query?.token))
    if (request.principal) request.log = request.log.child({ token: request.principal.name })
  })
  // Errors are logged by the error handler; everything else at debug, with request id and token name.
  app.addHook('onResponse', async (request, reply) => {
    request.log.debug({ method: request.method, route: request.routeOptions.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request')
  })

  // 2. Rate limit, before the scope check so unauthenticated floods are limited too.
  if (ctx.rateLimit && ctx.rateLimit.max > 0) {
    await app.register(rateLimit, {
      max: ctx.rateLimit.max,
      timeWindow: ctx.rateLimit.windowMs,
      keyGenerator: (request) => (request.principal && ctx.auth.mode === 'tokens' ? `token:${request.principal.name}` : `ip:${request.ip}`),
      errorResponseBuilder: (_request, context) =>
        new TwinError('TWIN_ERR_RATE_LIMITED', `more than ${context.max} requests in ${context.after}; retry in ${Math.ceil(context.ttl / 1000)} s or raise RATE_LIMIT_MAX`),
    })
  }

  // 3. The scope check, added to every route after the rate limit's own hook.
  app.addHook('onRoute', (route) => {
    const need: RouteAccess = route.config?.scope ?? 'admin'
    if (need === 'public') return
    const check = async (request: FastifyRequest) => authorize(request, need)
    route.onRequest = route.onRequest === undefined ? [check] : [...[route.onRequest].flat(), check]
  })

  await app.register(swagger, {
    openapi: {
      info: { title: 'twin-engine', version: '0.1.0', description: 'Digital twins over HTTP: docs/http.md. WebSocket protocol at GET /ws: docs/protocol.md.' },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'API token (API_TOKENS / API_TOKENS_FILE); WebSocket: also ?ticket= (POST /ws-ticket) or ?token=' } } },
    },
    transform: ({ schema, url, route }) => {
      const need: RouteAccess = route.config?.scope ?? 'admin'
      if (need === 'public') return { schema, url }
      const note = `Needs a token with scope \`${need}\`.`
      const s = (schema ?? {}) as Record<string, unknown>
      return { schema: { ...s, security: [{ bearerAuth: [] }], description: s.description ? `${String(s.description)} ${note}` : note }, url }
    },
  })
  // Largest WebSocket message a client may send; protocol messages are small.
  await app.register(websocket, { options: { maxPayload: LIMITS.messageBytes } })
  const hub = new WsHub(ctx.registry, ctx.store, ctx.bus, log.child({ component: 'ws' }), ctx.ws)
  app.addHook('onClose', async () => hub.close())
  app.decorate('ws', hub)
  ctx.metrics?.use({ ws: () => hub.stats })
  countRoutes(app, ctx)
  if (ctx.redisHealth) redisGate(app, ctx.redisHealth, hub)
  twinRoutes(app, ctx)
  opsRoutes(app, { ...ctx, health: () => ({ ...ctx.health(), ws: hub.stats }) })
  effectsRoutes(app, ctx)
  commandRoutes(app, ctx)
  sessionRoutes(app, ctx, tickets)
  await consoleRoutes(app, log.child({ component: 'console' }))
  inputRoutes(app, ctx)
  app.get('/ws', { websocket: true, config: { scope: 'read' }, schema: { summary: 'WebSocket: live twin state (docs/protocol.md)', querystring: { type: 'object', properties: { ticket: { type: 'string', description: 'single-use ticket from POST /ws-ticket (browsers: keeps the token out of the address)' }, token: { type: 'string', description: 'API token, for clients that cannot set headers (prefer ticket)' } } } } }, (socket) => {
    const session = hub.accept(socket)
    if (ctx.redisHealth) greetWithStatus(session, ctx.redisHealth)
  })
  app.get('/openapi.json', { config: { scope: 'public' }, schema: { hide: true } }, async () => app.swagger())
  return app
}

function authorize(request: FastifyRequest, need: Scope): void {
  const principal = request.principal
  const what = `${request.method} ${request.routeOptions.url}`
  if (!principal) {
    const how = request.routeOptions.url === '/ws' ? 'Authorization: Bearer <token>, ?ticket=<ticket from POST /ws-ticket> or ?token=<token>' : 'Authorization: Bearer <token>'
    const query = request.routeOptions.url === '/ws' ? (request.query as Record<string, unknown> | undefined) : undefined
    if (typeof query?.ticket === 'string' && request.headers.authorization === undefined) {
      throw new TwinError('TWIN_ERR_UNAUTHORIZED', `${what}: the WebSocket ticket is not valid (unknown, older than 30 s, or already used); get a new one with POST /ws-ticket`)
    }
    const why = presentedToken(request.headers.authorization, query?.token) === undefined
      ? request.headers.authorization === undefined ? 'no API token' : 'the Authorization header is not "Bearer <token>"'
      : 'the API token is not valid'
    throw new TwinError('TWIN_ERR_UNAUTHORIZED', `${what}: ${why}; send ${how} with a token that has scope "${need}"`)
  }
  if (!principal.scopes.has(need)) {
    throw new TwinError('TWIN_ERR_FORBIDDEN', `${what} needs scope "${need}"; token "${principal.name}" has ${[...principal.scopes].join(', ')}`)
  }
}
