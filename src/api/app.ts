import websocket from '@fastify/websocket'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { commandRoutes } from './commandRoutes.ts'
import type { ApiContext } from './context.ts'
import { effectsRoutes } from './effectsRoutes.ts'
import { errorHandler } from './httpErrors.ts'
import { opsRoutes } from './opsRoutes.ts'
import { twinRoutes } from './twinRoutes.ts'
import { WsSession } from './wsSession.ts'

/** Largest WebSocket message a client may send; protocol messages are small. */
const WS_MAX_PAYLOAD = 64 * 1024

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
  await app.register(websocket, { options: { maxPayload: WS_MAX_PAYLOAD } })
  twinRoutes(app, ctx)
  opsRoutes(app, ctx)
  effectsRoutes(app, ctx)
  commandRoutes(app, ctx)
  app.get('/ws', { websocket: true }, (socket) => {
    new WsSession(socket, ctx)
  })
  return app
}
