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
 */
import {
  PROTOCOL_VERSION,
  type ChangeMessage, type ConflatedMessage, type ErrorMessage, type EventMessage, type Filter, type GapMessage,
  type ServerMessage, type SubscribeMessage, type SubscribedMessage, type Twin, type TwinEvent, type WelcomeMessage,
} from './protocol.ts'

export * from './protocol.ts'

/** The part of the WebSocket API the client uses (browsers' WebSocket, `ws`, undici's). */
export interface WebSocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  onopen: ((ev: any) => void) | null
  onmessage: ((ev: any) => void) | null
  onclose: ((ev: any) => void) | null
  onerror: ((ev: any) => void) | null
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[], options?: any) => WebSocketLike

export interface ConnectOptions {
  /** the API's WebSocket URL, e.g. ws://localhost:8080/ws */
  url: string
  /** sent as `?token=` (browsers cannot set headers) and, with a non-browser WebSocket, as `Authorization: Bearer` */
  token?: string
  /** default: globalThis.WebSocket */
  WebSocket?: WebSocketConstructor
  /** first reconnect delay (doubles up to maxDelayMs, with jitter); default 250 */
  minDelayMs?: number
  maxDelayMs?: number
  /** connection state changes */
  onStatus?(status: 'connecting' | 'open' | 'closed', detail?: { code: number; reason: string }): void
  /** errors not tied to a subscription (rate limit, bad message) */
  onError?(error: ErrorMessage): void
}

export interface SubscribeOptions extends Filter {
  /** the subscription's name; generated when absent */
  id?: string
  events?: boolean | string[]
  changes?: boolean
}

export interface SubscriptionHandlers {
  /** a twin's full state: on subscribe, after a gap, after a reconnect for twins new to the subscription */
  onState?(twin: Twin): void
  /** a live change (`conflated`: earlier revs were skipped because the client fell behind) */
  onChange?(twin: Twin, message: ChangeMessage): void
  /** the twin no longer matches the filter: it was removed from `twins` */
  onLeave?(twin: Twin): void
  onEvent?(event: TwinEvent): void
  /** resume could not replay the missed revs; the twin's state follows (onState) */
  onGap?(gap: GapMessage): void
  onConflated?(message: ConflatedMessage): void
  /** the initial state (or resume) is complete */
  onSubscribed?(message: SubscribedMessage): void
  onError?(error: ErrorMessage): void
}

export interface Subscription {
  readonly id: string
  /** latest state per twin id */
  readonly twins: ReadonlyMap<string, Twin>
  /** resolves at the first `subscribed` */
  readonly ready: Promise<SubscribedMessage>
  unsubscribe(): void
}

export interface TwinClient {
  subscribe(filter: SubscribeOptions, handlers?: SubscriptionHandlers): Subscription
  /** resolves with the round trip in ms */
  ping(): Promise<number>
  /** true while the socket is open */
  readonly connected: boolean
  /** connections opened so far (1 + reconnects) */
  readonly connections: number
  close(): void
}

interface SubState {
  message: Omit<SubscribeMessage, 'since'>
  handlers: SubscriptionHandlers
  twins: Map<string, Twin>
  resolveReady: (m: SubscribedMessage) => void
}

/** `since` is bounded by the server's message size: twins beyond this budget are simply re-sent in full. */
const SINCE_BUDGET_BYTES = 48 * 1024
const OPEN = 1

export function connect(options: ConnectOptions): TwinClient {
  const Ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
  if (!Ctor) throw new Error('no WebSocket implementation: pass connect({ WebSocket }) (in Node 20: import WebSocket from "ws")')
  const minDelay = options.minDelayMs ?? 250
  const maxDelay = options.maxDelayMs ?? 10_000
  const subs = new Map<string, SubState>()
  const pings = new Map<string, { at: number; resolve: (ms: number) => void }>()
  let socket: WebSocketLike | null = null
  let closed = false
  let attempt = 0
  let connections = 0
  let nextSub = 1
  let nextPing = 1
  let reconnectTimer: ReturnType<typeof setTimeout> | undefined
  let watchdog: ReturnType<typeof setInterval> | undefined
  let lastHeard = 0

  const send = (message: object) => {
    if (socket?.readyState === OPEN) socket.send(JSON.stringify(message))
  }

  const subscribeMessage = (s: SubState): SubscribeMessage => {
    const message: SubscribeMessage = { ...s.message }
    if (s.twins.size && s.message.changes !== false) {
      const since: Record<string, number> = {}
      let bytes = 0
      for (const [id, twin] of s.twins) {
        bytes += id.length + 16
        if (bytes > SINCE_BUDGET_BYTES) break
        since[id] = twin.rev
      }
      message.since = since
    }
    return message
  }

  const open = () => {
    if (closed) return
    options.onStatus?.('connecting')
    const url = options.token ? `${options.url}${options.url.includes('?') ? '&' : '?'}token=${encodeURIComponent(options.token)}` : options.url
    // A WebSocket passed in (ws, undici) can also carry the header; the browser's cannot.
    const browserNative = Ctor === (globalThis as { WebSocket?: unknown }).WebSocket
    const ws = options.token && !browserNative ? new Ctor(url, undefined, { headers: { Authorization: `Bearer ${options.token}` } }) : new Ctor(url)
    socket = ws
    ws.onopen = () => {
      connections++
      lastHeard = Date.now()
      options.onStatus?.('open')
      send({ op: 'hello', protocol: PROTOCOL_VERSION })
      for (const s of subs.values()) send(subscribeMessage(s))
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
    ws.onclose = (ev: { code: number; reason: string }) => {
      if (socket !== ws) return
      socket = null
      if (watchdog) clearInterval(watchdog)
      watchdog = undefined
      options.onStatus?.('closed', { code: ev.code, reason: String(ev.reason ?? '') })
      if (closed) return
      const delay = Math.min(maxDelay, minDelay * 2 ** attempt++) * (0.5 + Math.random() / 2)
      reconnectTimer = setTimeout(open, delay)
    }
  }

  const dispatch = (m: ServerMessage) => {
    if (m.op === 'welcome') {
      attempt = 0
      if (watchdog) clearInterval(watchdog)
      // No message for 3 heartbeats: the connection is dead even if the socket does not know yet.
      const every = (m as WelcomeMessage).heartbeatMs
      watchdog = setInterval(() => {
        if (Date.now() - lastHeard > 3 * every) socket?.close(4000, 'no heartbeat')
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
    if (m.op === 'error' && !m.sub) return options.onError?.(m)
    const subId = (m as { sub?: string }).sub
    const s = subId === undefined ? undefined : subs.get(subId)
    if (!s) return
    const h = s.handlers
    switch (m.op) {
      case 'snapshot':
        for (const twin of m.twins) {
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
        s.resolveReady(m)
        h.onSubscribed?.(m)
        break
      case 'error': h.onError?.(m); break
    }
  }

  open()

  return {
    subscribe(filter, handlers = {}) {
      const id = filter.id ?? `c${nextSub++}`
      if (subs.has(id)) throw new Error(`subscription "${id}" exists`)
      let resolveReady!: (m: SubscribedMessage) => void
      const ready = new Promise<SubscribedMessage>((resolve) => (resolveReady = resolve))
      const s: SubState = { message: { ...filter, op: 'subscribe', id }, handlers, twins: new Map(), resolveReady }
      subs.set(id, s)
      send(subscribeMessage(s))
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
      return new Promise<number>((resolve) => {
        pings.set(ref, { at: Date.now(), resolve })
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
    },
  }
}
