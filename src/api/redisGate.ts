import type { FastifyInstance } from 'fastify'
import { TwinError } from '../errors.ts'
import type { RedisCondition, RedisHealth } from '../store/redisHealth.ts'
import type { WsHub } from './ws/hub.ts'
import type { WsSession } from './ws/session.ts'

/** Routes that answer without Redis: liveness, health, readiness, metrics, the API document, the WebSocket upgrade. */
const WITHOUT_REDIS = new Set(['/live', '/health', '/ready', '/metrics', '/openapi.json', '/ws'])

/**
 * While Redis is down or refuses writes, every route that needs it answers
 * 503 TWIN_ERR_REDIS_UNAVAILABLE at once (with Retry-After), instead of
 * waiting on a connection that is not there (issue 15: reads hung). Checked
 * after authentication, so a caller without a token still gets 401.
 * WebSocket clients get a `status` message on every change, and a new
 * connection gets one at once while Redis is away (docs/protocol.md).
 */
export function redisGate(app: FastifyInstance, health: RedisHealth, hub: WsHub): void {
  app.addHook('preHandler', async (request) => {
    const c = health.condition
    if (c.status === 'up' || WITHOUT_REDIS.has(request.routeOptions.url ?? '')) return
    throw new TwinError('TWIN_ERR_REDIS_UNAVAILABLE', `${c.reason} (for ${Math.round((Date.now() - c.since) / 1000)} s); retry later`)
  })
  const off = health.onChange((condition, previous) => {
    // A new reason within one outage is not news to a client.
    if (condition.status === previous.status) return
    const frame = statusFrame(condition)
    for (const s of hub.sessions) s.queue.write(frame)
  })
  app.addHook('onClose', async () => off())
}

/** Says where Redis stands to a socket that just connected, unless all is well. */
export function greetWithStatus(session: WsSession, health: RedisHealth): void {
  if (!health.up) session.queue.write(statusFrame(health.condition))
}

/** The `status` message (docs/protocol.md, docs/schemas/ws-server-status.json). */
export function statusFrame(c: RedisCondition): string {
  return JSON.stringify(c.status === 'up'
    ? { op: 'status', redis: 'up', message: 'Redis is available again: live changes resume. Subscribe again with since to replay anything missed.', at: Date.now() }
    : { op: 'status', redis: c.status, code: 'TWIN_ERR_REDIS_UNAVAILABLE', message: `${c.reason}: no changes until it is back; state is kept`, at: Date.now() })
}
