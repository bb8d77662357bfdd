import { useEffect, useState } from 'preact/hooks'
import { useLiveStatus } from '../live.ts'

/** Live / reconnecting / resumed with gap: what the console's WebSocket is doing. */
export function LiveIndicator() {
  const s = useLiveStatus()
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
  return <span class={`live-indicator ${s.state}`} data-live={s.state} title={title} role="status"><span class="dot" />{text}</span>
}
