import websocket from '@fastify/websocket'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { ApiContext } from './context.ts'
import { errorHandler } from './httpErrors.ts'
import { opsRoutes } from './opsRoutes.ts'
import { twinRoutes } from './twinRoutes.ts'
import { WsHub } from './ws/hub.ts'
import { LIMITS } from './ws/schemas.ts'


/** The HTTP + WebSocket API (docs/protocol.md). Tests drive it with `app.inject` and real sockets. */
export async function buildApi(ctx: ApiContext, log: Logger): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: log.child({ component: 'api' }) as FastifyBaseLogger,
    // One log line per request would dominate the log at fleet rates.
    logController: new LogController({ disableRequestLogging: true }),
    // An event body carries one device payload plus a little envelope.
    bodyLimit: ctx.maxPayloadBytes + 4096,
  })
  app.setErrorHandler(errorHandler)
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({ error: { code: 'TWIN_ERR_NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` } })
  })
  // Largest WebSocket message a client may send; protocol messages are small.
  await app.register(websocket, { options: { maxPayload: LIMITS.messageBytes } })
  const hub = new WsHub(ctx.registry, ctx.store, ctx.bus, log.child({ component: 'ws' }), ctx.ws)
  app.addHook('onClose', async () => hub.close())
  app.decorate('ws', hub)
  twinRoutes(app, ctx)
  opsRoutes(app, { ...ctx, health: () => ({ ...ctx.health(), ws: hub.stats }) })
  app.get('/ws', { websocket: true }, (socket) => {
    hub.accept(socket)
  })
  return app
}
