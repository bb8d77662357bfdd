import type { Logger } from 'pino'
import type { WebSocket } from 'ws'
import { TagResolver } from './filter.ts'
import { wsDefaults, type WsOptions } from './options.ts'
import { RecentChanges } from './recentChanges.ts'
import type { SendQueue, SendQueueEvents } from './sendQueue.ts'
import { WsSession, type SessionDeps } from './session.ts'
import { CloseCodes } from '../../client/protocol.ts'
import type { TwinRegistry } from '../../definitions/registry.ts'
import type { ChangeBus } from '../../feed/changeBus.ts'
import { Frames } from '../../feed/serialise.ts'
import type { TwinStore } from '../../store/twinStore.ts'

/** How often sockets that conflate (or whose snapshot waits) are checked for draining. */
const DRAIN_CHECK_MS = 25

/** Live WebSocket figures of one API process (GET /health → ws). */
export interface WsStats {
  connections: number
  accepted: number
  /** sockets that started conflating (counted each time) */
  conflations: number
  /** derived events a conflating socket could not be sent */
  droppedEvents: number
  closedSlow: number
  closedFlooding: number
  closedNoPong: number
  /** client messages refused by the rate limit */
  rateLimited: number
  /** largest unsent bytes seen on any socket after a write */
  peakBufferedBytes: number
  /** most (subscription, twin) views one socket held while conflating */
  peakConflatedTwins: number
  /** twins in the resume buffer */
  resumeTwins: number
  /** estimated bytes in the resume buffer (bounded by WS_RESUME_BYTES) */
  resumeBytes: number
  /** change notices not sent on because the twin's rev had been sent already */
  repeatedChanges: number
}

/**
 * The WebSocket side of one API process: one change-bus listener that feeds
 * the resume buffer and then every session, one heartbeat timer and one drain
 * timer for all sockets, and the counters.
 */
export class WsHub {
  readonly options: WsOptions
  readonly recent: RecentChanges
  readonly tags: TagResolver
  readonly now = (): number => Date.now()
  /** open sessions (tests terminate their sockets to simulate dropped connections) */
  readonly sessions = new Set<WsSession>()
  private readonly watched = new Set<SendQueue>()
  private readonly offs: Array<() => void> = []
  private readonly heartbeat: NodeJS.Timeout
  private drain: NodeJS.Timeout | null = null
  /** incremented by sessions and their send queues */
  readonly counters = { accepted: 0, conflations: 0, droppedEvents: 0, closedSlow: 0, closedFlooding: 0, closedNoPong: 0, rateLimited: 0, repeatedChanges: 0 }
  private peakBuffered = 0
  private peakHeld = 0

  readonly queueEvents: SendQueueEvents = {
    watch: (queue) => {
      this.watched.add(queue)
      this.drain ??= setInterval(() => this.checkDrain(), DRAIN_CHECK_MS)
    },
    conflationStarted: () => this.counters.conflations++,
    eventsDropped: (n) => (this.counters.droppedEvents += n),
    closedSlow: () => this.counters.closedSlow++,
  }

  private readonly sessionDeps: SessionDeps

  constructor(
    registry: TwinRegistry,
    store: TwinStore,
    bus: ChangeBus,
    log: Logger,
    options: Partial<WsOptions> = {},
  ) {
    this.options = { ...wsDefaults, ...options }
    const o = this.options
    this.recent = new RecentChanges({ perTwin: o.resumeRevs, maxTwins: o.resumeTwins, maxBytes: o.resumeBytes })
    this.tags = new TagResolver(registry)
    this.sessionDeps = {
      options: this.options,
      now: this.now,
      log,
      counters: this.counters,
      queueEvents: this.queueEvents,
      requireActor: (type) => registry.requireActor(type),
      initialState: { store, tags: this.tags, recent: this.recent },
      closed: (session) => this.remove(session),
    }
    // The buffer first: a session resuming right now must find the change there.
    // A repeated notice (rev already sent) goes no further: a rev never goes back.
    this.offs.push(bus.onChange((view) => {
      if (!this.recent.add(view)) {
        this.counters.repeatedChanges++
        return
      }
      // Encoded once for every socket; the frames are dropped after this loop.
      const frames = new Frames(view)
      for (const s of this.sessions) s.onChange(view, frames)
    }))
    this.offs.push(bus.onDerived((event) => {
      const frames = new Frames(event)
      for (const s of this.sessions) s.onDerived(event, frames)
    }))
    this.heartbeat = setInterval(() => this.beat(), this.options.heartbeatMs)
    this.heartbeat.unref()
  }

  get stats(): WsStats {
    let peakBuffered = this.peakBuffered
    let peakHeld = this.peakHeld
    for (const s of this.sessions) {
      peakBuffered = Math.max(peakBuffered, s.queue.peakBuffered)
      peakHeld = Math.max(peakHeld, s.queue.peakHeld)
    }
    return { connections: this.sessions.size, ...this.counters, peakBufferedBytes: peakBuffered, peakConflatedTwins: peakHeld, resumeTwins: this.recent.twins, resumeBytes: this.recent.bytes }
  }

  accept(socket: WebSocket): WsSession {
    const session = new WsSession(socket, this.sessionDeps)
    this.counters.accepted++
    this.sessions.add(session)
    return session
  }

  /** A session ended: keep its peaks for the stats. */
  remove(session: WsSession): void {
    if (!this.sessions.delete(session)) return
    this.peakBuffered = Math.max(this.peakBuffered, session.queue.peakBuffered)
    this.peakHeld = Math.max(this.peakHeld, session.queue.peakHeld)
    this.watched.delete(session.queue)
  }

  /** Ping frames + one heartbeat message for all; a socket silent for 2 intervals is terminated. */
  private beat(): void {
    const now = this.now()
    const frame = JSON.stringify({ op: 'heartbeat', at: now })
    for (const s of [...this.sessions]) {
      if (now - s.lastSeen > 2 * this.options.heartbeatMs) {
        this.counters.closedNoPong++
        s.socket.terminate()
        continue
      }
      s.socket.ping()
      s.queue.write(frame)
    }
  }

  private checkDrain(): void {
    for (const queue of this.watched) {
      queue.check()
      if (!queue.needsCheck) this.watched.delete(queue)
    }
    if (this.watched.size === 0 && this.drain) {
      clearInterval(this.drain)
      this.drain = null
    }
  }

  /** Stops the timers and closes every socket (1001: reconnect elsewhere). */
  close(): void {
    clearInterval(this.heartbeat)
    if (this.drain) clearInterval(this.drain)
    this.drain = null
    for (const off of this.offs) off()
    for (const s of [...this.sessions]) s.socket.close(CloseCodes.GOING_AWAY, 'server shutting down; reconnect')
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** the WebSocket hub of this API (tests read its stats and sessions) */
    ws: WsHub
  }
}
