import { connect, type StatusMessage, type SubscribeOptions, type Subscription, type SubscriptionHandlers, type TwinClient } from 'twin-engine/client'
import { useEffect, useState } from 'preact/hooks'
import { api, apiUrl } from './api.ts'

/**
 * The console's one WebSocket (protocol v1 through `twin-engine/client`).
 *
 * Every connection attempt first asks for a single-use ticket
 * (`POST /ws-ticket`, with the token in the Authorization header) and opens
 * `/ws?ticket=…`: the long-lived token never appears in the socket's address.
 * The client reconnects and resumes by itself; this module turns what it
 * reports into the indicator operators see: live, reconnecting, resumed with
 * a gap, and — from the server's `status` messages (docs/protocol.md) —
 * whether the engine's Redis is away, when the socket stays open but no
 * change can come.
 */
export type LiveStatus =
  | { state: 'connecting' }
  | { state: 'live'; since: number }
  | { state: 'reconnecting'; reason: string; since: number }
  | { state: 'resumed-gap'; gaps: number; at: number }

/** What the server last said of its Redis (`status` messages); `up` until it says otherwise. */
export type RedisStatus = Pick<StatusMessage, 'redis' | 'message' | 'at'>

let status: LiveStatus = { state: 'connecting' }
let redis: RedisStatus = { redis: 'up', message: '', at: 0 }
const statusListeners = new Set<(s: LiveStatus) => void>()
const redisListeners = new Set<(s: RedisStatus) => void>()
let client: TwinClient | null = null
let everOpen = false

function setStatus(next: LiveStatus) {
  status = next
  for (const l of statusListeners) l(status)
}

function setRedis(next: RedisStatus) {
  redis = next
  for (const l of redisListeners) l(redis)
}

/** How long "resumed with gap" stays up before the indicator shows plain live again. */
const GAP_NOTICE_MS = 15_000
let gapTimer: ReturnType<typeof setTimeout> | undefined

function noteGaps(gaps: number) {
  if (gaps <= 0) return
  const previous = status.state === 'resumed-gap' ? status.gaps : 0
  setStatus({ state: 'resumed-gap', gaps: previous + gaps, at: Date.now() })
  clearTimeout(gapTimer)
  gapTimer = setTimeout(() => setStatus({ state: 'live', since: Date.now() }), GAP_NOTICE_MS)
}

export function liveClient(): TwinClient {
  if (client) return client
  const wsBase = apiUrl('ws')
  wsBase.protocol = wsBase.protocol === 'https:' ? 'wss:' : 'ws:'
  client = connect({
    url: async () => {
      const { ticket } = await api<{ ticket: string }>('ws-ticket', { method: 'POST' })
      return `${wsBase.href}?ticket=${encodeURIComponent(ticket)}`
    },
    onStatus: (s, detail) => {
      if (s === 'open') {
        if (status.state !== 'resumed-gap') setStatus({ state: 'live', since: Date.now() })
        everOpen = true
      } else if (s === 'closed' || (s === 'connecting' && everOpen && status.state !== 'reconnecting')) {
        setStatus({ state: 'reconnecting', reason: detail ? `${detail.code}${detail.reason ? ` ${detail.reason}` : ''}` : 'connecting', since: Date.now() })
      }
      // A new connection is told at once if Redis is still away; until then assume it is back.
      if (s === 'open') setRedis({ redis: 'up', message: '', at: Date.now() })
    },
    onServerStatus: (m) => setRedis({ redis: m.redis, message: m.message, at: m.at }),
  })
  return client
}

export function closeLive(): void {
  client?.close()
  client = null
  everOpen = false
  setStatus({ state: 'connecting' })
  setRedis({ redis: 'up', message: '', at: 0 })
}

/** Subscribes through the shared client; gaps reported on resume show on the indicator. */
export function subscribe(filter: SubscribeOptions, handlers: SubscriptionHandlers): Subscription {
  return liveClient().subscribe(filter, {
    ...handlers,
    onSubscribed: (m) => {
      noteGaps(m.resumed?.gaps ?? 0)
      handlers.onSubscribed?.(m)
    },
    onGap: (g) => {
      noteGaps(1)
      handlers.onGap?.(g)
    },
  })
}

export function useLiveStatus(): LiveStatus {
  const [s, setS] = useState(status)
  useEffect(() => {
    statusListeners.add(setS)
    setS(status)
    return () => void statusListeners.delete(setS)
  }, [])
  return s
}

export function useRedisStatus(): RedisStatus {
  const [s, setS] = useState(redis)
  useEffect(() => {
    redisListeners.add(setS)
    setS(redis)
    return () => void redisListeners.delete(setS)
  }, [])
  return s
}
