import { useEffect, useState } from 'preact/hooks'
import { useLiveStatus, useRedisStatus } from '../live.ts'

/**
 * Live / reconnecting / resumed with gap: what the console's WebSocket is
 * doing; and, while the socket is open, whether the engine's Redis is away
 * (the server's `status` message): the page then shows the last state it
 * had, and no change can come until Redis is back.
 */
export function LiveIndicator() {
  const s = useLiveStatus()
  const redis = useRedisStatus()
  const [, tick] = useState(0)
  useEffect(() => {
    const t = setInterval(() => tick((n) => n + 1), 1000)
    return () => clearInterval(t)
  }, [])
  const ago = (at: number) => `${Math.max(0, Math.round((Date.now() - at) / 1000))} s`
  let text: string
  let title: string
  switch (s.state) {
    case 'connecting': text = 'connecting'; title = 'opening the WebSocket'; break
    case 'live': text = 'live'; title = `connected for ${ago(s.since)}`; break
    case 'reconnecting': text = 'reconnecting'; title = `connection lost ${ago(s.since)} ago (${s.reason}); retrying with backoff`; break
    case 'resumed-gap': text = `resumed with gap (${s.gaps})`; title = `reconnected ${ago(s.at)} ago; ${s.gaps} twin(s) could not be replayed and were sent whole`; break
  }
  const away = redis.redis !== 'up' && (s.state === 'live' || s.state === 'resumed-gap')
  if (away) {
    text = redis.redis === 'down' ? 'paused: Redis down' : 'paused: Redis refusing writes'
    title = `the engine says (${ago(redis.at)} ago): ${redis.message}. Live changes stop until Redis is back; what is shown is the last state received.`
  }
  const cls = away ? 'redis-away' : s.state
  return (
    <span class={`live-indicator ${cls}`} data-live={away ? 'redis-away' : s.state} data-redis={redis.redis} title={title} role="status">
      <span class="dot" />{text}
    </span>
  )
}
