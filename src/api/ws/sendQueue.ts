import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import { CloseCodes } from '../../client/protocol.ts'
import { frame, FramePrefix, Frames, toJsonBytes } from '../../feed/serialise.ts'
import type { TwinView } from '../../model/record.ts'

/** The per-subscription message prefixes, JSON-encoded once per subscription. */
export interface Prefixes {
  id: string
  change: FramePrefix
  conflated: FramePrefix
  leave: FramePrefix
  event: FramePrefix
}

export function prefixesFor(id: string): Prefixes {
  const sub = JSON.stringify(id)
  return {
    id,
    change: new FramePrefix(`{"op":"change","sub":${sub},"twin":`),
    conflated: new FramePrefix(`{"op":"change","sub":${sub},"conflated":true,"twin":`),
    leave: new FramePrefix(`{"op":"change","sub":${sub},"match":false,"twin":`),
    event: new FramePrefix(`{"op":"event","sub":${sub},"event":`),
  }
}

export type ChangeKind = 'change' | 'conflated' | 'leave'

export interface SendLimits {
  highWaterBytes: number
  lowWaterBytes: number
  maxBufferedBytes: number
  slowCloseMs: number
  /** (subscription, twin) changes held at most while conflating */
  maxHeld: number
}

/** What a send queue reports to the hub's counters. */
export interface SendQueueEvents {
  /** starts needing `check()` calls (conflating, or someone waits for it to drain) */
  watch(queue: SendQueue): void
  conflationStarted(): void
  eventsDropped(n: number): void
  closedSlow(): void
}

interface Held {
  p: Prefixes
  view: TwinView
  leave: boolean
}

/**
 * One socket's outgoing messages, with bounded memory whatever the client does
 * (docs/protocol.md, "Slow consumers"). Below the high-water mark every message
 * is written as it comes. Above it, changes are conflated: only the latest view
 * per (subscription, twin) is kept, in a map no larger than the client's
 * subscribed twins and at most `maxHeld` entries (overlapping subscriptions
 * multiply it: 100 of them over 100,000 twins could hold 10M), and derived
 * events are counted as dropped. Once the socket drains below the low-water
 * mark the map is flushed, each subscription's batch preceded by a
 * `conflated` notice. A socket that stays over the mark for slowCloseMs, whose
 * unsent bytes pass maxBufferedBytes, or that would hold more than maxHeld
 * changes, is closed (4008).
 *
 * Change and event frames come from the fan-out's `Frames` (serialise.ts):
 * encoded once per change and prefix, shared by every socket.
 */
export class SendQueue {
  private held = new Map<string, Held>()
  private dropped = new Map<string, number>()
  private conflatingSince: number | null = null
  private waiters: Array<() => void> = []
  private closed = false
  /** largest bufferedAmount seen right after a write */
  peakBuffered = 0
  /** most (subscription, twin) views held at once */
  peakHeld = 0

  constructor(
    private readonly socket: WebSocket,
    private readonly limits: SendLimits,
    private readonly events: SendQueueEvents,
    private readonly now: () => number,
  ) {}

  private corked = false

  /**
   * Holds this tick's frames back and writes them in one go (one syscall per
   * socket, not one per frame): a worker's batch brings many changes in the
   * same tick. Corked bytes still count in `bufferedAmount`, so the bounds hold.
   */
  private cork(): void {
    if (this.corked) return
    const raw = (this.socket as unknown as { _socket?: Socket })._socket
    if (!raw) return
    this.corked = true
    raw.cork()
    process.nextTick(() => {
      this.corked = false
      raw.uncork()
    })
  }

  get conflating(): boolean {
    return this.conflatingSince !== null
  }

  get heldCount(): number {
    return this.held.size
  }

  /** A control or snapshot message: always written (snapshots wait for `writable()` first). */
  write(data: string | Buffer): void {
    if (this.closed || this.socket.readyState !== this.socket.OPEN) return
    this.cork()
    this.socket.send(data, { binary: false })
    const buffered = this.socket.bufferedAmount
    if (buffered > this.peakBuffered) this.peakBuffered = buffered
    if (buffered > this.limits.maxBufferedBytes) {
      this.closeSlow(`slow consumer: more than ${this.limits.maxBufferedBytes} bytes unread; reconnect and resume`)
    }
  }

  /**
   * Writes changes that must all arrive (a resume's replay), as (prefix, JSON)
   * pairs framed one at a time, waiting for the socket to drain whenever it
   * is over the high-water mark, so a long replay cannot pass the hard cap
   * before the client reads.
   */
  async writeAll(changes: ReadonlyArray<readonly [FramePrefix, Buffer]>): Promise<void> {
    for (const [prefix, json] of changes) {
      if (this.socket.bufferedAmount > this.limits.highWaterBytes) await this.writable()
      if (this.closed) return
      this.write(frame(prefix, json))
    }
  }

  change(p: Prefixes, view: TwinView, kind: ChangeKind, frames: Frames): void {
    if (this.closed) return
    if (!this.conflating && this.socket.bufferedAmount > this.limits.highWaterBytes) this.startConflating()
    if (this.conflating) {
      const key = `${p.id}\u0000${view.id}`
      if (this.held.size >= this.limits.maxHeld && !this.held.has(key)) {
        return this.closeSlow(`slow consumer: over ${this.limits.maxHeld} changes held while conflating; reconnect and resume`)
      }
      this.held.set(key, { p, view, leave: kind === 'leave' })
      if (this.held.size > this.peakHeld) this.peakHeld = this.held.size
      return
    }
    this.write(frames.get(kind === 'change' ? p.change : kind === 'conflated' ? p.conflated : p.leave))
  }

  event(p: Prefixes, frames: Frames): void {
    if (this.closed) return
    if (!this.conflating && this.socket.bufferedAmount > this.limits.highWaterBytes) this.startConflating()
    if (this.conflating) {
      this.dropped.set(p.id, (this.dropped.get(p.id) ?? 0) + 1)
      this.events.eventsDropped(1)
      return
    }
    this.write(frames.get(p.event))
  }

  /** Forgets what is held for a subscription that ended. */
  forget(subId: string): void {
    for (const [key, h] of this.held) if (h.p.id === subId) this.held.delete(key)
    this.dropped.delete(subId)
  }

  /** Resolves once the socket is below the low-water mark (or closed): snapshot pages wait here. */
  writable(): Promise<void> {
    if (this.closed || this.socket.bufferedAmount <= this.limits.lowWaterBytes) return Promise.resolve()
    this.events.watch(this)
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  /** Called by the hub's drain timer while `needsCheck`. */
  check(): void {
    if (this.closed) return this.release()
    const buffered = this.socket.bufferedAmount
    if (buffered <= this.limits.lowWaterBytes) {
      this.flush()
      this.release()
    } else if (this.conflatingSince !== null && this.now() - this.conflatingSince > this.limits.slowCloseMs) {
      this.closeSlow(`slow consumer: over ${this.limits.highWaterBytes} bytes unread for more than ${this.limits.slowCloseMs} ms; reconnect and resume`)
    }
  }

  get needsCheck(): boolean {
    return !this.closed && (this.conflating || this.waiters.length > 0)
  }

  /** The socket closed: drop what is held, release waiters. */
  dispose(): void {
    this.closed = true
    this.held.clear()
    this.release()
  }

  private release(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const resolve of waiters) resolve()
  }

  private startConflating(): void {
    this.conflatingSince = this.now()
    this.events.conflationStarted()
    this.events.watch(this)
  }

  /**
   * Sends what is held, up to about one high-water mark of bytes per round so
   * a large backlog cannot overshoot the hard cap; each subscription's part of
   * a round is preceded by its `conflated` notice. Conflation ends once
   * nothing is held.
   */
  private flush(): void {
    if (this.conflatingSince === null) return
    const bySub = new Map<string, Buffer[]>()
    let budget = this.limits.highWaterBytes
    for (const [key, h] of this.held) {
      if (budget <= 0) break
      const message = frame(h.leave ? h.p.leave : h.p.conflated, toJsonBytes(h.view))
      budget -= message.length
      this.held.delete(key)
      let list = bySub.get(h.p.id)
      if (!list) bySub.set(h.p.id, (list = []))
      list.push(message)
    }
    for (const [subId, n] of this.dropped) if (!bySub.has(subId) && n > 0) bySub.set(subId, [])
    for (const [subId, frames] of bySub) {
      const dropped = this.dropped.get(subId) ?? 0
      this.dropped.delete(subId)
      this.write(JSON.stringify({ op: 'conflated', sub: subId, twins: frames.length, droppedEvents: dropped }))
      for (const message of frames) this.write(message)
    }
    if (this.held.size === 0) this.conflatingSince = null
  }

  private closeSlow(reason: string): void {
    if (this.closed) return
    this.closed = true
    this.held.clear()
    this.events.closedSlow()
    this.socket.close(CloseCodes.SLOW_CONSUMER, reason.slice(0, 120))
    // A client that does not read will not read the close frame either.
    setTimeout(() => this.socket.terminate(), 2000).unref()
    this.release()
  }
}
