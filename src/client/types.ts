/** The client's public types (twin-engine/client): what `connect` takes and gives. */
import type { ChangeMessage, ConflatedMessage, ErrorMessage, Filter, GapMessage, StatusMessage, SubscribedMessage, Twin, TwinEvent } from './protocol.ts'

/** The part of the WebSocket API the client uses (browsers' WebSocket, `ws`, undici's). */
export interface WebSocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  /** drop the connection without the closing handshake (`ws` has it; browsers do not) */
  terminate?(): void
  onopen: ((ev: any) => void) | null
  onmessage: ((ev: any) => void) | null
  onclose: ((ev: any) => void) | null
  onerror: ((ev: any) => void) | null
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[], options?: any) => WebSocketLike

export interface ConnectOptions {
  /**
   * the API's WebSocket URL, e.g. ws://localhost:8080/ws; or a function called before every connection
   * attempt, e.g. to fetch a single-use ticket (`POST /ws-ticket`) and return `…/ws?ticket=…`
   */
  url: string | (() => string | Promise<string>)
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
  /**
   * the server's Redis went away or came back (`status` messages); live changes pause meanwhile. When it
   * is back, the client subscribes again with `since` by itself, so a change whose notice was lost in the
   * outage is replayed (docs/protocol.md).
   */
  onServerStatus?(status: StatusMessage): void
}

export interface SubscribeOptions extends Filter {
  /** the subscription's name; generated when absent */
  id?: string
  events?: boolean | string[]
  changes?: boolean
}

export interface SubscriptionHandlers {
  /** a twin's full state: on subscribe, after a gap, after a reconnect for twins new to the subscription or left out of `since` */
  onState?(twin: Twin): void
  /** a live change (`conflated`: earlier revs were skipped because the client fell behind) */
  onChange?(twin: Twin, message: ChangeMessage): void
  /** the twin no longer matches the filter (also found out on a resume): it was removed from `twins` */
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
  /** resolves at the first `subscribed`; rejects (SubscriptionError) when the server refuses the subscription */
  readonly ready: Promise<SubscribedMessage>
  unsubscribe(): void
}

/** The server refused a subscription (`ready` rejects with it); `code` is the error's TWIN_ERR_… code. */
export class SubscriptionError extends Error {
  readonly code: string
  readonly sub: string
  constructor(message: ErrorMessage) {
    super(message.message)
    this.name = 'SubscriptionError'
    this.code = message.code
    this.sub = message.sub ?? ''
  }
}

export interface TwinClient {
  subscribe(filter: SubscribeOptions, handlers?: SubscriptionHandlers): Subscription
  /** resolves with the round trip in ms; rejects when the connection is not open or closes first */
  ping(): Promise<number>
  /** true while the socket is open */
  readonly connected: boolean
  /** connections opened so far (1 + reconnects) */
  readonly connections: number
  close(): void
}
