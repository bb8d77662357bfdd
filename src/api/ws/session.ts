import type { Logger } from 'pino'
import type { WebSocket } from 'ws'
import { compileFilter, type TwinFilter } from './filter.ts'
import { sendInitialState, type InitialStateSource } from './initialState.ts'
import type { WsOptions } from './options.ts'
import { RateLimiter } from './rateLimiter.ts'
import { LIMITS, parseClientMessage } from './schemas.ts'
import { prefixesFor, SendQueue, type Prefixes, type SendQueueEvents } from './sendQueue.ts'
import { CloseCodes, PROTOCOL_VERSION, type SubscribeMessage } from '../../client/protocol.ts'
import { TwinError, type ErrorCode } from '../../errors.ts'
import { Frames } from '../../feed/serialise.ts'
import type { DerivedEvent, TwinView } from '../../model/record.ts'

/** Subscriptions of one socket reading their initial state at once; more wait their turn (each read holds a page of views). */
const CONCURRENT_READS = 4

interface Subscription {
  p: Prefixes
  filter: TwinFilter
  changes: boolean
  /** derived events: null = none, 'all', or a set of names */
  events: null | 'all' | Set<string>
  /** twins currently in the subscription, for filters that look at state (to send `match: false` once) */
  members: Set<string> | null
  /** latest live change per twin while the initial state is read (bounded by the twins covered) */
  pending: Map<string, TwinView> | null
  /** rev sent per twin during the initial state */
  sent: Map<string, number> | null
  ended: boolean
}

/** What a session needs from the API process, and nothing more. */
export interface SessionDeps {
  options: Pick<WsOptions, 'heartbeatMs' | 'rateLimit' | 'rateBurst' | 'floodCloseMs' | 'highWaterBytes' | 'maxBufferedBytes' | 'slowCloseMs' | 'maxHeld'>
  now(): number
  log: Logger
  /** the counters a session increments itself */
  counters: { closedFlooding: number; rateLimited: number }
  /** where its send queue reports */
  queueEvents: SendQueueEvents
  /** refuses a subscription to a type that is neither a twin type nor a rule (TWIN_ERR_UNKNOWN_TYPE) */
  requireActor(type: unknown): void
  initialState: InitialStateSource
  /** the session ended */
  closed(session: WsSession): void
}

/**
 * One WebSocket connection speaking protocol v1 (docs/protocol.md). The hub
 * feeds it change notices and derived events; it filters them per
 * subscription and hands them to its SendQueue, which owns slow-consumer
 * handling.
 */
export class WsSession {
  readonly queue: SendQueue
  private readonly subs = new Map<string, Subscription>()
  private readonly limiter: RateLimiter
  private nextId = 1
  private lastRateError = 0
  private refusedSinceError = 0
  /** initial-state reads under way, and those waiting for a turn */
  private reads = 0
  private readonly readQueue: Array<() => void> = []
  /** most initial-state reads under way at once (tests) */
  peakReads = 0
  /** last time the client showed it is alive (pong or any message) */
  lastSeen: number
  closed = false

  constructor(
    readonly socket: WebSocket,
    private readonly deps: SessionDeps,
  ) {
    const o = deps.options
    const now = deps.now()
    this.lastSeen = now
    this.limiter = new RateLimiter(o.rateLimit, o.rateBurst, o.floodCloseMs, now)
    this.queue = new SendQueue(socket, { highWaterBytes: o.highWaterBytes, lowWaterBytes: Math.floor(o.highWaterBytes / 4), maxBufferedBytes: o.maxBufferedBytes, slowCloseMs: o.slowCloseMs, maxHeld: o.maxHeld }, deps.queueEvents, deps.now)
    socket.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary))
    socket.on('pong', () => (this.lastSeen = deps.now()))
    socket.on('close', () => this.dispose())
    socket.on('error', () => this.dispose())
    this.welcome()
  }

  get subscriptions(): number {
    return this.subs.size
  }

  private dispose(): void {
    if (this.closed) return
    this.closed = true
    for (const sub of this.subs.values()) sub.ended = true
    this.subs.clear()
    this.queue.dispose()
    for (const next of this.readQueue.splice(0)) next()
    this.deps.closed(this)
  }

  private send(message: Record<string, unknown>): void {
    this.queue.write(JSON.stringify(message))
  }

  private welcome(): void {
    const o = this.deps.options
    this.send({ op: 'welcome', protocol: PROTOCOL_VERSION, heartbeatMs: o.heartbeatMs, limits: { rate: o.rateLimit, burst: o.rateBurst, subscriptions: LIMITS.subscriptions, ids: LIMITS.ids, messageBytes: LIMITS.messageBytes } })
  }

  private error(code: ErrorCode, message: string, extra: Record<string, unknown> = {}): void {
    this.send({ op: 'error', code, message, ...extra })
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.closed) return
    const now = this.deps.now()
    this.lastSeen = now
    const admission = this.limiter.take(now)
    if (admission === 'flood') {
      this.deps.counters.closedFlooding++
      this.socket.close(CloseCodes.FLOODING, `flooding: ${this.deps.options.rateLimit * 10}+ messages/s for ${this.deps.options.floodCloseMs} ms`)
      this.dispose()
      return
    }
    if (admission === 'limited') {
      this.deps.counters.rateLimited++
      this.refusedSinceError++
      // One error a second at most: answering every dropped message would amplify the flood.
      if (now - this.lastRateError >= 1000) {
        this.lastRateError = now
        const o = this.deps.options
        this.error('TWIN_ERR_RATE_LIMITED', `over ${o.rateLimit} messages/s (burst ${o.rateBurst}): dropping messages (${this.refusedSinceError} since the last notice, at most one a second); send less often`)
        this.refusedSinceError = 0
      }
      return
    }
    let ref: Record<string, unknown> = {}
    try {
      if (isBinary) throw new TwinError('TWIN_ERR_WS_BAD_MESSAGE', 'binary frames are not part of the protocol; send JSON text frames')
      const msg = parseClientMessage(data.toString())
      if (msg.op === 'subscribe' || msg.op === 'unsubscribe') ref = msg.id ? { sub: msg.id } : {}
      if (msg.op === 'ping') this.send(msg.ref === undefined ? { op: 'pong' } : { op: 'pong', ref: msg.ref })
      else if (msg.op === 'hello') this.welcome()
      else if (msg.op === 'subscribe') this.subscribe(msg)
      else this.unsubscribe(msg.id)
    } catch (err) {
      if (!(err instanceof TwinError)) {
        this.deps.log.error({ err }, 'WebSocket message failed')
        this.error('TWIN_ERR_INTERNAL', 'the message could not be handled; the server log has the details', ref)
        return
      }
      this.error(err.code, err.message, ref)
    }
  }

  private subscribe(msg: SubscribeMessage): void {
    const bad = (why: string) => new TwinError('TWIN_ERR_WS_BAD_MESSAGE', `subscribe: ${why}`)
    this.deps.requireActor(msg.type)
    const filter = compileFilter(msg)
    const changes = msg.changes !== false
    if (!changes && filter.dynamic) throw bad('changes: false (events only) cannot use state, tags or where: those filter on state')
    if (!changes && !msg.events) throw bad('changes: false needs events: true or a list of event names')
    let id = msg.id
    if (id === undefined) {
      do id = `s${this.nextId++}`
      while (this.subs.has(id))
    }
    if (this.subs.has(id)) throw bad(`subscription "${id}" exists; unsubscribe first or use another id`)
    if (this.subs.size >= LIMITS.subscriptions) throw bad(`at most ${LIMITS.subscriptions} subscriptions per connection`)
    const sub: Subscription = {
      p: prefixesFor(id),
      filter,
      changes,
      events: msg.events === true ? 'all' : Array.isArray(msg.events) ? new Set(msg.events) : null,
      members: filter.dynamic ? new Set() : null,
      pending: changes ? new Map() : null,
      sent: changes ? new Map() : null,
      ended: false,
    }
    this.subs.set(id, sub)
    if (!changes) {
      this.send({ op: 'subscribed', sub: id, count: 0 })
      return
    }
    this.readInitialState(sub, msg.since ?? null).catch((err: Error) => {
      if (sub.ended) return
      this.subs.delete(id)
      this.deps.log.warn({ err }, 'WebSocket subscribe failed')
      this.error('TWIN_ERR_INTERNAL', `subscribe failed (${err.message}); try again`, { sub: id })
    })
  }

  /** sendInitialState, at most CONCURRENT_READS subscriptions of this socket at once. */
  private async readInitialState(sub: Subscription, since: Record<string, number> | null): Promise<void> {
    if (this.reads >= CONCURRENT_READS) await new Promise<void>((resolve) => this.readQueue.push(resolve))
    this.reads++
    this.peakReads = Math.max(this.peakReads, this.reads)
    try {
      if (!sub.ended && !this.closed) await this.sendInitialState(sub, since)
    } finally {
      this.reads--
      this.readQueue.shift()?.()
    }
  }

  /**
   * Current state first (initialState.ts), then live changes. Changes
   * arriving meanwhile are held (latest per twin) and sent after
   * `subscribed`, skipping what was already sent, so a rev never goes back.
   */
  private async sendInitialState(sub: Subscription, since: Record<string, number> | null): Promise<void> {
    const target = { p: sub.p, filter: sub.filter, members: sub.members, sent: sub.sent!, get ended() { return sub.ended } }
    const { count, resumed } = await sendInitialState(target, since, this.deps.initialState, this.queue, (m) => this.send(m))
    if (sub.ended) return
    this.send(since ? { op: 'subscribed', sub: sub.p.id, count, resumed } : { op: 'subscribed', sub: sub.p.id, count })
    const held = sub.pending!
    const sent = sub.sent!
    sub.pending = null
    sub.sent = null
    for (const view of held.values()) {
      const rev = sent.get(view.id)
      if (rev !== undefined && view.rev <= rev) continue
      // Held changes keep only the latest per twin: say so when that skipped revs.
      this.deliver(sub, view, rev !== undefined && view.rev > rev + 1, new Frames(view))
    }
  }

  private unsubscribe(id: string): void {
    const sub = this.subs.get(id)
    if (!sub) throw new TwinError('TWIN_ERR_WS_BAD_MESSAGE', `unsubscribe: no subscription ${JSON.stringify(id)}`)
    sub.ended = true
    this.subs.delete(id)
    this.queue.forget(id)
    this.send({ op: 'unsubscribed', sub: id })
  }

  /** A change notice from the hub (every change of every twin: filter first, cheaply). */
  onChange(view: TwinView, frames: Frames): void {
    for (const sub of this.subs.values()) {
      if (!sub.changes || !sub.filter.covers(view.type, view.id)) continue
      if (sub.pending) sub.pending.set(view.id, view)
      else this.deliver(sub, view, false, frames)
    }
  }

  private deliver(sub: Subscription, view: TwinView, conflated: boolean, frames: Frames): void {
    if (sub.members) {
      if (sub.filter.matches(view)) sub.members.add(view.id)
      else {
        if (sub.members.delete(view.id)) this.queue.change(sub.p, view, 'leave', frames)
        return
      }
    }
    this.queue.change(sub.p, view, conflated ? 'conflated' : 'change', frames)
  }

  onDerived(event: DerivedEvent, frames: Frames): void {
    for (const sub of this.subs.values()) {
      if (!sub.events || !sub.filter.covers(event.type, event.twinId)) continue
      if (sub.events !== 'all' && !sub.events.has(event.name)) continue
      if (sub.members && !sub.members.has(event.twinId)) continue
      this.queue.event(sub.p, frames)
    }
  }
}
