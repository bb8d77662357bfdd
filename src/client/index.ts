/**
 * A small typed client for the twin-engine WebSocket API (protocol v1,
 * docs/protocol.md), for browsers and Node: `import { connect } from
 * 'twin-engine/client'`. No Node-only imports; in Node 20 pass a WebSocket
 * implementation (`import WebSocket from 'ws'`).
 *
 *   const client = connect({ url: 'ws://localhost:8080/ws', token, WebSocket })
 *   const sub = client.subscribe({ type: 'elevator', state: 'fault' }, {
 *     onState: (twin) => …, onChange: (twin) => …, onLeave: (twin) => …,
 *     onEvent: (event) => …, onGap: (gap) => …,
 *   })
 *   sub.twins        // latest state of every twin in the subscription
 *   sub.unsubscribe()
 *
 * It keeps the latest state (and so the last rev) of every twin it was sent,
 * reconnects with exponential backoff, and resumes every subscription with
 * `since`, so after a dropped connection it receives only what it missed.
 * A subscription the server refuses (an error naming it before its
 * `subscribed`) is dropped: `ready` rejects with a SubscriptionError.
 */
import { PROTOCOL_VERSION, type EventMessage, type ServerMessage, type SubscribeMessage, type SubscribedMessage, type Twin, type WelcomeMessage } from './protocol.ts'
import { TwinError } from '../errors.ts'
import { SubscriptionError, type ConnectOptions, type SubscriptionHandlers, type TwinClient, type WebSocketConstructor, type WebSocketLike } from './types.ts'

export * from './protocol.ts'
export * from './types.ts'
export { TwinError } from '../errors.ts'

interface SubState {
  message: Omit<SubscribeMessage, 'since'>
  handlers: SubscriptionHandlers
  twins: Map<string, Twin>
  resolveReady: (m: SubscribedMessage) => void
  rejectReady: (error: SubscriptionError) => void
  /** sent on this connection, `subscribed` not yet received: an error naming it now is a refusal */
  awaiting: boolean
  /** held twins left out of the last `since`: the server re-sends those still matching before `subscribed`; the rest left */
  unlisted: Set<string>
}

/** Room kept free in a resume message besides what is counted. */
const MESSAGE_MARGIN_BYTES = 64
const OPEN = 1
const utf8 = new TextEncoder()
const bytesOf = (s: string) => utf8.encode(s).length

export function connect(options: ConnectOptions): TwinClient {
  const Ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
  if (!Ctor) throw new TwinError('TWIN_ERR_CONFIG', 'no WebSocket implementation: pass connect({ WebSocket }) (in Node 20: import WebSocket from "ws")')
  const minDelay = options.minDelayMs ?? 250
  const maxDelay = options.maxDelayMs ?? 10_000
  const subs = new Map<string, SubState>()
  const pings = new Map<string, { at: number; resolve: (ms: number) => void; reject: (error: Error) => void }>()
  /** the server's limits (from its last `welcome`; protocol v1 defaults until then) */
  let limits = { messageBytes: 64 * 1024, ids: 10_000 }
  let socket: WebSocketLike | null = null
  let closed = false
  let attempt = 0
  let connections = 0
  let nextSub = 1
  let nextPing = 1
  let reconnectTimer: ReturnType<typeof setTimeout> | undefined
  let watchdog: ReturnType<typeof setInterval> | undefined
  let lastHeard = 0
  /** the server said its Redis is away (a `status` message other than `up`) on this connection */
  let serverAway = false

  const send = (message: object) => {
    if (socket?.readyState === OPEN) socket.send(JSON.stringify(message))
  }

  /**
   * The subscribe message, with `since` when resuming: as many held twins as
   * fit in the server's message limit with the rest of the message (counted
   * in real UTF-8 JSON bytes); the twins left out are `unlisted`.
   */
  const subscribeMessage = (s: SubState): SubscribeMessage => {
    const message: SubscribeMessage = { ...s.message }
    s.unlisted.clear()
    if (s.twins.size && s.message.changes !== false) {
      const since: Record<string, number> = {}
      // `,"since":{}` and a comma per entry are within the margin and the entries' counts.
      let budget = limits.messageBytes - bytesOf(JSON.stringify(message)) - MESSAGE_MARGIN_BYTES
      let listed = 0
      for (const [id, twin] of s.twins) {
        const bytes = bytesOf(JSON.stringify(id)) + String(twin.rev).length + 2
        if (bytes > budget || listed === limits.ids) {
          s.unlisted.add(id)
          continue
        }
        budget -= bytes
        listed++
        since[id] = twin.rev
      }
      message.since = since
    }
    return message
  }

  const sendSubscribe = (s: SubState) => {
    if (socket?.readyState !== OPEN) return
    s.awaiting = true
    send(subscribeMessage(s))
  }

  /**
   * Redis is back: change notices may have been lost while it was away, so
   * every subscription is made again with `since` (the server replays what
   * the client lacks, or sends a gap and the state). A subscription whose
   * initial state is still coming needs none.
   */
  const resubscribeAll = () => {
    for (const s of subs.values()) {
      if (s.awaiting) continue
      send({ op: 'unsubscribe', id: s.message.id })
      sendSubscribe(s)
    }
  }

  const rejectPings = (why: string) => {
    for (const p of pings.values()) p.reject(new Error(why))
    pings.clear()
  }

  /** The connection is gone (closed, or declared dead by the watchdog): reconnect. */
  const disconnected = (ws: WebSocketLike, code: number, reason: string) => {
    if (socket !== ws) return
    socket = null
    ws.onmessage = null
    if (watchdog) clearInterval(watchdog)
    watchdog = undefined
    rejectPings(`connection closed (${code}) before the pong`)
    options.onStatus?.('closed', { code, reason })
    if (closed) return
    const delay = Math.min(maxDelay, minDelay * 2 ** attempt++) * (0.5 + Math.random() / 2)
    reconnectTimer = setTimeout(() => void open(), delay)
  }

  const open = async () => {
    if (closed) return
    options.onStatus?.('connecting')
    let base: string
    try {
      base = typeof options.url === 'function' ? await options.url() : options.url
    } catch (err) {
      // Treated as a failed connection: reported, then retried with backoff.
      socket = { readyState: 3 } as WebSocketLike
      disconnected(socket, 1006, (err as Error).message ?? String(err))
      return
    }
    if (closed) return
    const url = options.token ? `${base}${base.includes('?') ? '&' : '?'}token=${encodeURIComponent(options.token)}` : base
    // A WebSocket passed in (ws, undici) can also carry the header; the browser's cannot.
    const browserNative = Ctor === (globalThis as { WebSocket?: unknown }).WebSocket
    const ws = options.token && !browserNative ? new Ctor(url, undefined, { headers: { Authorization: `Bearer ${options.token}` } }) : new Ctor(url)
    socket = ws
    ws.onopen = () => {
      connections++
      serverAway = false
      lastHeard = Date.now()
      options.onStatus?.('open')
      send({ op: 'hello', protocol: PROTOCOL_VERSION })
      for (const s of subs.values()) sendSubscribe(s)
    }
    ws.onmessage = (ev: { data: unknown }) => {
      lastHeard = Date.now()
      let message: ServerMessage
      try {
        message = JSON.parse(String(ev.data)) as ServerMessage
      } catch {
        return
      }
      dispatch(message)
    }
    ws.onerror = () => undefined
    ws.onclose = (ev: { code: number; reason: string }) => disconnected(ws, ev.code, String(ev.reason ?? ''))
  }

  const dispatch = (m: ServerMessage) => {
    if (m.op === 'welcome') {
      attempt = 0
      limits = { messageBytes: m.limits.messageBytes, ids: m.limits.ids }
      if (watchdog) clearInterval(watchdog)
      // No message for 3 heartbeats: the connection is dead even if the socket does not know yet.
      // Reconnect now: a close() would wait for the closing handshake the dead peer never answers (30 s in ws).
      const every = (m as WelcomeMessage).heartbeatMs
      watchdog = setInterval(() => {
        const ws = socket
        if (!ws || Date.now() - lastHeard <= 3 * every) return
        disconnected(ws, 4000, 'no heartbeat')
        if (ws.terminate) ws.terminate()
        else ws.close(4000, 'no heartbeat')
      }, every)
      return
    }
    if (m.op === 'pong') {
      const p = m.ref ? pings.get(m.ref) : undefined
      if (p) {
        pings.delete(m.ref!)
        p.resolve(Date.now() - p.at)
      }
      return
    }
    if (m.op === 'heartbeat') return
    if (m.op === 'status') {
      if (serverAway && m.redis === 'up') resubscribeAll()
      serverAway = m.redis !== 'up'
      return options.onServerStatus?.(m)
    }
    if (m.op === 'error' && !m.sub) return options.onError?.(m)
    const subId = (m as { sub?: string }).sub
    const s = subId === undefined ? undefined : subs.get(subId)
    if (!s) return
    const h = s.handlers
    switch (m.op) {
      case 'snapshot':
        for (const twin of m.twins) {
          s.unlisted.delete(twin.id)
          s.twins.set(twin.id, twin)
          h.onState?.(twin)
        }
        break
      case 'change': {
        if (m.match === false) {
          if (s.twins.delete(m.twin.id)) h.onLeave?.(m.twin)
          break
        }
        const known = s.twins.get(m.twin.id)
        if (known && m.twin.rev <= known.rev) break
        s.twins.set(m.twin.id, m.twin)
        h.onChange?.(m.twin, m)
        break
      }
      case 'event': h.onEvent?.((m as EventMessage).event); break
      case 'gap': h.onGap?.(m); break
      case 'conflated': h.onConflated?.(m); break
      case 'subscribed':
        s.awaiting = false
        // Unlisted twins the server did not re-send no longer match.
        for (const id of s.unlisted) {
          const twin = s.twins.get(id)
          s.twins.delete(id)
          if (twin) h.onLeave?.(twin)
        }
        s.unlisted.clear()
        s.resolveReady(m)
        h.onSubscribed?.(m)
        break
      case 'error':
        if (s.awaiting) {
          // Refused: the server does not hold it, so neither do we (it would be re-sent on every reconnect).
          subs.delete(m.sub!)
          s.rejectReady(new SubscriptionError(m))
        }
        h.onError?.(m)
        break
    }
  }

  void open()

  return {
    subscribe(filter, handlers = {}) {
      const id = filter.id ?? `c${nextSub++}`
      if (subs.has(id)) throw new TwinError('TWIN_ERR_BAD_REQUEST', `subscription "${id}" exists; give each subscription its own id`)
      let resolveReady!: (m: SubscribedMessage) => void
      let rejectReady!: (error: SubscriptionError) => void
      const ready = new Promise<SubscribedMessage>((resolve, reject) => {
        resolveReady = resolve
        rejectReady = reject
      })
      // Handled here too, so an app that never awaits `ready` gets no unhandled rejection.
      ready.catch(() => undefined)
      const s: SubState = { message: { ...filter, op: 'subscribe', id }, handlers, twins: new Map(), resolveReady, rejectReady, awaiting: false, unlisted: new Set() }
      subs.set(id, s)
      sendSubscribe(s)
      return {
        id,
        twins: s.twins,
        ready,
        unsubscribe() {
          if (subs.delete(id)) send({ op: 'unsubscribe', id })
        },
      }
    },
    ping() {
      const ref = `p${nextPing++}`
      if (socket?.readyState !== OPEN) return Promise.reject(new Error('not connected; try again once connected'))
      return new Promise<number>((resolve, reject) => {
        pings.set(ref, { at: Date.now(), resolve, reject })
        send({ op: 'ping', ref })
      })
    },
    get connected() {
      return socket?.readyState === OPEN
    },
    get connections() {
      return connections
    },
    close() {
      closed = true
      clearTimeout(reconnectTimer)
      if (watchdog) clearInterval(watchdog)
      socket?.close(1000, 'client closed')
      socket = null
      rejectPings('client closed')
    },
  }
}
