import type { FastifyInstance } from 'fastify'
import type { ApiContext } from './context.ts'
import { errors } from './schemas.ts'
import { TICKET_TTL_MS, type WsTickets } from './wsTickets.ts'

/**
 * GET /whoami: what the presented token may do (the console shows and hides
 * its controls by it); POST /ws-ticket: a single-use WebSocket ticket, so
 * browsers need not put the token in the socket's address.
 */
export function sessionRoutes(app: FastifyInstance, ctx: ApiContext, tickets: WsTickets): void {
  app.get('/whoami', {
    config: { scope: 'read' },
    schema: {
      summary: 'The presented token: its name (never the token), its scopes, and whether access is open',
      response: {
        200: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            scopes: { type: 'array', items: { type: 'string', enum: ['read', 'write', 'admin'] } },
            auth: { type: 'string', enum: ['tokens', 'open'] },
          },
        },
        ...errors,
      },
    },
  }, async (request) => ({ name: request.principal!.name, scopes: [...request.principal!.scopes], auth: ctx.auth.mode }))

  app.post('/ws-ticket', {
    config: { scope: 'read' },
    schema: {
      summary: `A single-use ticket for GET /ws?ticket=…, valid ${TICKET_TTL_MS / 1000} s, standing for the presented token`,
      response: { 200: { type: 'object', properties: { ticket: { type: 'string' }, expiresInMs: { type: 'integer' } } }, ...errors },
    },
  }, async (request) => tickets.issue(request.principal!))
}
