import { randomBytes } from 'node:crypto'
import type { Keys } from '../store/keys.ts'
import type { RedisClient } from '../store/redis.ts'
import { sha256 } from '../secrets.ts'
import { scopes, type Principal, type Scope } from './auth.ts'

/**
 * Short-lived, single-use WebSocket tickets (`POST /ws-ticket`, docs/http.md).
 *
 * Browsers cannot set headers on a WebSocket, and `?token=` would put the
 * long-lived API token in an address (proxy logs, history). A client with a
 * token asks for a ticket over HTTP (`Authorization: Bearer`), then opens
 * `/ws?ticket=…` within TICKET_TTL_MS. The ticket stands for the token's
 * principal (name and scopes) and is deleted when it is used (GETDEL), so a
 * ticket seen in a log line is worthless.
 *
 * Tickets live in Redis, not in the process, so a client may open its socket
 * on any API process of a cluster. Only the ticket's SHA-256 is stored.
 */
export const TICKET_TTL_MS = 30_000

/** 32 random bytes, base64url: 43 characters. */
const TICKET_PATTERN = /^[A-Za-z0-9_-]{43}$/

export class WsTickets {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  private key(ticket: string): string {
    return this.keys.wsTicket(sha256(ticket).toString('hex'))
  }

  async issue(principal: Principal): Promise<{ ticket: string; expiresInMs: number }> {
    const ticket = randomBytes(32).toString('base64url')
    await this.redis.set(this.key(ticket), JSON.stringify({ name: principal.name, scopes: [...principal.scopes] }), 'PX', TICKET_TTL_MS)
    return { ticket, expiresInMs: TICKET_TTL_MS }
  }

  /** The principal a ticket stands for, once; null for an unknown, expired or used ticket. */
  async redeem(ticket: string): Promise<Principal | null> {
    if (!TICKET_PATTERN.test(ticket)) return null
    const raw = await this.redis.getdel(this.key(ticket))
    if (!raw) return null
    try {
      const stored = JSON.parse(raw) as { name: string; scopes: string[] }
      return { name: stored.name, scopes: new Set(stored.scopes.filter((s): s is Scope => scopes.includes(s as Scope))) }
    } catch {
      return null
    }
  }
}
