/**
 * WebSocket protocol v1 (docs/protocol.md): the message types shared by the
 * server (src/api/ws/) and the client (src/client/). Types only plus a few
 * constants, no Node imports, so browsers can bundle it. The JSON Schemas that
 * validate these shapes live in src/api/ws/schemas.ts.
 */

export const PROTOCOL_VERSION = 1

/** What apps see of a twin (the same shape as HTTP `GET /twins/{type}/{id}`). */
export interface Twin {
  type: string
  id: string
  value: unknown
  context: unknown
  rev: number
  updatedAt: number
  tags?: string[]
  attributes?: Record<string, string>
  commands?: Record<string, unknown>
  /** pending timers, soonest first: the machine's (`after`, delayed events) and command timeouts (`$cmd:<name>`) */
  timers?: Array<{ id: string; due: number }>
}

/** An event a twin emitted; `id` is stable across redeliveries. */
export interface TwinEvent {
  id: string
  type: string
  twinId: string
  name: string
  at: number
  data: Record<string, unknown>
}

export const WHERE_OPS = ['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'in', 'exists'] as const
export type WhereOp = (typeof WHERE_OPS)[number]

/** A predicate on one field: `path` is `context.<a>[.<b>…]` or `attributes.<name>`. */
export interface Where {
  path: string
  op: WhereOp
  value?: unknown
}

/** Which twins a subscription covers. Every given field must match (AND); a list means any of its items. */
export interface Filter {
  type: string
  ids?: string[]
  /** state values as XState matches them: `moving`, or `normal.moving` for a nested state */
  state?: string | string[]
  /** XState tags: twins whose state has any of them */
  tags?: string[]
  where?: Where[]
}

// Client -> server.
export interface HelloMessage { op: 'hello'; protocol: number; client?: string }
export interface SubscribeMessage extends Filter {
  op: 'subscribe'
  /** the subscription's name, 1–64 characters; `s1`, `s2`… when absent */
  id?: string
  /** derived events of the matching twins: true for all, or a list of event names */
  events?: boolean | string[]
  /** false: derived events only, no state (default true) */
  changes?: boolean
  /** resume: the last rev the client holds per twin id */
  since?: Record<string, number>
}
export interface UnsubscribeMessage { op: 'unsubscribe'; id: string }
export interface PingMessage { op: 'ping'; ref?: string }
export type ClientMessage = HelloMessage | SubscribeMessage | UnsubscribeMessage | PingMessage

// Server -> client.
export interface WelcomeMessage { op: 'welcome'; protocol: number; heartbeatMs: number; limits: { rate: number; burst: number; subscriptions: number; ids: number; messageBytes: number } }
export interface SnapshotMessage { op: 'snapshot'; sub: string; twins: Twin[] }
export interface SubscribedMessage { op: 'subscribed'; sub: string; count: number; resumed?: { unchanged: number; replayed: number; gaps: number } }
export interface ChangeMessage {
  op: 'change'
  sub: string
  /** false once, when the twin stops matching the filter: drop it */
  match?: false
  /** earlier revs of this twin were skipped (slow consumer); this is its latest state */
  conflated?: true
  twin: Twin
}
export interface EventMessage { op: 'event'; sub: string; event: TwinEvent }
export interface GapMessage { op: 'gap'; sub: string; id: string; from: number; to: number }
export interface ConflatedMessage { op: 'conflated'; sub: string; twins: number; droppedEvents: number }
export interface UnsubscribedMessage { op: 'unsubscribed'; sub: string }
export interface PongMessage { op: 'pong'; ref?: string }
export interface HeartbeatMessage { op: 'heartbeat'; at: number }
/** Redis went away (no changes meanwhile, state kept) or came back (docs/protocol.md). */
export interface StatusMessage { op: 'status'; redis: 'up' | 'down' | 'refusing-writes'; code?: 'TWIN_ERR_REDIS_UNAVAILABLE'; message: string; at: number }
export interface ErrorMessage { op: 'error'; code: string; message: string; sub?: string; ref?: string }
export type ServerMessage =
  | WelcomeMessage | SnapshotMessage | SubscribedMessage | ChangeMessage | EventMessage | GapMessage
  | ConflatedMessage | UnsubscribedMessage | PongMessage | HeartbeatMessage | StatusMessage | ErrorMessage

/** Application close codes (RFC 6455 leaves 4000–4999 to applications). */
export const CloseCodes = {
  /** the server is shutting down: reconnect (to another API process) */
  GOING_AWAY: 1001,
  /** a frame larger than the message limit */
  TOO_BIG: 1009,
  /** slow consumer: over the buffer high-water mark for too long, or over the hard cap */
  SLOW_CONSUMER: 4008,
  /** kept sending far over the input rate limit */
  FLOODING: 4029,
} as const
