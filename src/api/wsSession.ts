import type { WebSocket } from 'ws'
import { TwinError, type ErrorCode } from '../errors.ts'
import type { DerivedEvent, TwinView } from '../runtime/shardBatch.ts'
import { toMessage } from '../runtime/serialise.ts'
import type { ApiContext } from './context.ts'

/**
 * One WebSocket connection speaking the protocol in docs/protocol.md:
 *
 *   -> { op: 'subscribe', id?, type, ids?, events? }
 *   <- { op: 'snapshot', sub, twins: [...] }   (pages of the current state)
 *   <- { op: 'subscribed', sub, count }
 *   <- { op: 'change', sub, twin }             (every committed change, with rev)
 *   <- { op: 'event', sub, event }             (derived events, when events: true)
 *   -> { op: 'unsubscribe', id }  <- { op: 'unsubscribed', sub }
 *   <- { op: 'error', code, message }          (bad input; the socket stays open)
 */

interface Subscription {
  id: string
  /** `"op":"…","sub":"<id>"` prefix, JSON-encoded once */
  changePrefix: string
  eventPrefix: string
  type: string
  ids: Set<string> | null
  events: boolean
  /** live changes that arrive while the initial state is being read */
  pending: TwinView[] | null
  /** rev already sent per twin during the initial state (only until it is flushed) */
  sent: Map<string, number> | null
}

const SNAPSHOT_PAGE = 500
const MAX_SUBSCRIPTIONS = 100
const MAX_IDS = 10_000
/** A client this far behind is closed (code 1013) rather than buffered without bound. */
export const MAX_BUFFERED_BYTES = 16 * 1024 * 1024

export class WsSession {
  private readonly subs = new Map<string, Subscription>()
  private readonly unsubscribers: Array<() => void> = []
  private nextId = 1

  constructor(
    private readonly socket: WebSocket,
    private readonly ctx: ApiContext,
  ) {
    socket.on('message', (data, isBinary) => this.onMessage(data.toString(), isBinary))
    socket.on('close', () => this.close())
    this.unsubscribers.push(ctx.bus.onChange((view) => this.onChange(view)))
    this.unsubscribers.push(ctx.bus.onDerived((event) => this.onDerived(event)))
  }

  private close(): void {
    for (const off of this.unsubscribers) off()
    this.subs.clear()
  }

  private send(message: unknown): void {
    this.sendText(JSON.stringify(message))
  }

  /** Sends a text frame (a string, or UTF-8 bytes already encoded for many sockets). */
  private sendText(text: string | Buffer): void {
    if (this.socket.readyState !== this.socket.OPEN) return
    if (this.socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.socket.close(1013, 'client too slow: over 16 MB of updates unread')
      return
    }
    this.socket.send(text, { binary: false })
  }

  private error(code: ErrorCode, message: string, extra: Record<string, unknown> = {}): void {
    this.send({ op: 'error', code, message, ...extra })
  }

  private onMessage(text: string, isBinary: boolean): void {
    let msg: Record<string, unknown>
    try {
      if (isBinary) throw new TwinError('TWIN_ERR_WS_BAD_MESSAGE', 'binary frames are not part of the protocol')
      const parsed: unknown = JSON.parse(text)
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new TwinError('TWIN_ERR_WS_BAD_MESSAGE', 'a message must be a JSON object')
      msg = parsed as Record<string, unknown>
    } catch (err) {
      this.error('TWIN_ERR_WS_BAD_MESSAGE', `not a protocol message: ${(err as Error).message}`)
      return
    }
    try {
      if (msg.op === 'subscribe') this.subscribe(msg)
      else if (msg.op === 'unsubscribe') this.unsubscribe(msg)
      else if (msg.op === 'ping') this.send({ op: 'pong' })
      else throw new TwinError('TWIN_ERR_WS_BAD_MESSAGE', `unknown op ${JSON.stringify(msg.op)}; use subscribe, unsubscribe or ping`)
    } catch (err) {
      if (!(err instanceof TwinError)) throw err
      this.error(err.code, err.message, typeof msg.id === 'string' ? { sub: msg.id } : {})
    }
  }

  private subscribe(msg: Record<string, unknown>): void {
    const bad = (why: string) => new TwinError('TWIN_ERR_WS_BAD_MESSAGE', `subscribe: ${why}`)
    const { type, ids, events } = msg
    const definition = this.ctx.registry.require(type)
    if (ids !== undefined && (!Array.isArray(ids) || ids.length > MAX_IDS || !ids.every((i) => typeof i === 'string'))) {
      throw bad(`ids must be an array of at most ${MAX_IDS} strings`)
    }
    if (events !== undefined && typeof events !== 'boolean') throw bad('events must be true or false')
    const id = msg.id === undefined ? `s${this.nextId++}` : msg.id
    if (typeof id !== 'string' || id.length === 0 || id.length > 64) throw bad('id must be a string of 1-64 characters')
    if (this.subs.has(id)) throw bad(`subscription "${id}" exists; unsubscribe first`)
    if (this.subs.size >= MAX_SUBSCRIPTIONS) throw bad(`at most ${MAX_SUBSCRIPTIONS} subscriptions per connection`)
    const sub: Subscription = {
      id,
      changePrefix: `{"op":"change","sub":${JSON.stringify(id)},"twin":`,
      eventPrefix: `{"op":"event","sub":${JSON.stringify(id)},"event":`,
      type: definition.type,
      ids: ids ? new Set(ids as string[]) : null,
      events: events === true,
      pending: [],
      sent: new Map(),
    }
    this.subs.set(id, sub)
    this.sendInitialState(sub).catch((err: Error) => {
      this.subs.delete(id)
      this.error('TWIN_ERR_INTERNAL', `subscribe failed: ${err.message}`, { sub: id })
    })
  }

  /**
   * Current state first, then live changes. Changes that arrive while the
   * state is read are held and sent after it, skipping any the snapshot
   * already covered (same or older rev), so a client never sees a rev go back.
   */
  private async sendInitialState(sub: Subscription): Promise<void> {
    let count = 0
    const page = (twins: TwinView[]) => {
      if (!this.subs.has(sub.id) || twins.length === 0) return
      for (const t of twins) sub.sent!.set(t.id, t.rev)
      count += twins.length
      this.send({ op: 'snapshot', sub: sub.id, twins })
    }
    if (sub.ids) {
      const ids = [...sub.ids]
      for (let i = 0; i < ids.length; i += SNAPSHOT_PAGE) page(await this.ctx.store.getMany(sub.type, ids.slice(i, i + SNAPSHOT_PAGE)))
    } else {
      let cursor: string | undefined
      do {
        const result = await this.ctx.store.list({ type: sub.type, limit: SNAPSHOT_PAGE, cursor })
        page(result.twins)
        cursor = result.next
      } while (cursor && this.subs.has(sub.id))
    }
    if (!this.subs.has(sub.id)) return
    this.send({ op: 'subscribed', sub: sub.id, count })
    const held = sub.pending!
    const sent = sub.sent!
    sub.pending = null
    sub.sent = null
    for (const view of held) if ((sent.get(view.id) ?? -1) < view.rev) this.sendText(toMessage(sub.changePrefix, view))
  }

  private unsubscribe(msg: Record<string, unknown>): void {
    if (typeof msg.id !== 'string' || !this.subs.delete(msg.id)) {
      throw new TwinError('TWIN_ERR_WS_BAD_MESSAGE', `unsubscribe: no subscription ${JSON.stringify(msg.id)}`)
    }
    this.send({ op: 'unsubscribed', sub: msg.id })
  }

  private onChange(view: TwinView): void {
    for (const sub of this.subs.values()) {
      if (sub.type !== view.type || (sub.ids && !sub.ids.has(view.id))) continue
      if (sub.pending) sub.pending.push(view)
      else this.sendText(toMessage(sub.changePrefix, view))
    }
  }

  private onDerived(event: DerivedEvent): void {
    for (const sub of this.subs.values()) {
      if (!sub.events || sub.type !== event.type || (sub.ids && !sub.ids.has(event.twinId))) continue
      this.sendText(toMessage(sub.eventPrefix, event))
    }
  }
}
