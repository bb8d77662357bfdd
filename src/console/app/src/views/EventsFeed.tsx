import type { Subscription, TwinEvent } from 'twin-engine/client'
import { useEffect, useRef, useState } from 'preact/hooks'
import { Ring, useFrameRender } from '../frame.ts'
import { subscribe } from '../live.ts'
import { twinTypes, type TwinTypes } from '../model.ts'
import { href, navigate, onLinkClick } from '../router.ts'
import { VirtualList } from './VirtualList.tsx'

/** Events the feed holds; older ones drop off (bounded memory at any rate). */
const KEEP = 2000

/**
 * Derived events as they happen, from WebSocket subscriptions with
 * `changes: false` (one per twin type, or the chosen one). Filters: type and
 * event names go to the server; the twin id filter runs here. Drawn once per
 * frame, the list virtualised.
 */
export function EventsFeed({ query }: { query: URLSearchParams }) {
  const type = query.get('type') ?? ''
  const names = (query.get('names') ?? '').split(',').map((s) => s.trim()).filter(Boolean)
  const twinFilter = query.get('twin') ?? ''
  const [types, setTypes] = useState<TwinTypes | null>(null)
  const [draft, setDraft] = useState({ type, names: names.join(', '), twin: twinFilter })
  const [paused, setPaused] = useState(false)
  const ring = useRef(new Ring<TwinEvent>(KEEP))
  const seen = useRef(new Set<string>())
  const rate = useRef({ count: 0, since: performance.now(), perSec: 0 })
  const redraw = useFrameRender()
  const pausedRef = useRef(paused)
  pausedRef.current = paused

  useEffect(() => void twinTypes().then(setTypes, () => undefined), [])
  useEffect(() => {
    if (!types) return
    ring.current.clear()
    seen.current.clear()
    const targets = type ? [type] : [...types.types.map((t) => t.type), ...types.rules.map((r) => r.name)]
    const subs: Subscription[] = targets.map((t) => subscribe({ type: t, changes: false, events: names.length ? names : true }, {
      onEvent: (e) => {
        rate.current.count++
        if (pausedRef.current || seen.current.has(e.id)) return
        if (twinFilter && !e.twinId.includes(twinFilter)) return
        seen.current.add(e.id)
        if (seen.current.size > KEEP * 2) seen.current = new Set(ring.current.newestFirst().map((x) => x.id))
        ring.current.push(e)
        redraw()
      },
    }))
    const timer = setInterval(() => {
      const now = performance.now()
      rate.current.perSec = rate.current.count / ((now - rate.current.since) / 1000)
      rate.current.count = 0
      rate.current.since = now
      redraw()
    }, 2000)
    return () => {
      for (const s of subs) s.unsubscribe()
      clearInterval(timer)
    }
  }, [types, type, names.join(','), twinFilter])

  const submit = (e: Event) => {
    e.preventDefault()
    const q = new URLSearchParams()
    if (draft.type) q.set('type', draft.type)
    if (draft.names.trim()) q.set('names', draft.names.split(',').map((s) => s.trim()).filter(Boolean).join(','))
    if (draft.twin.trim()) q.set('twin', draft.twin.trim())
    navigate(q.toString() ? `events?${q}` : 'events')
  }
  const items = ring.current.newestFirst()
  return (
    <section class="events-feed">
      <h1>Derived events</h1>
      <form class="filters" onSubmit={submit}>
        <label>Type
          <select value={draft.type} onChange={(e) => setDraft({ ...draft, type: (e.target as HTMLSelectElement).value })}>
            <option value="">all</option>
            {types?.types.map((t) => <option key={t.type} value={t.type}>{t.type}</option>)}
            {types?.rules.map((r) => <option key={r.name} value={r.name}>{r.name} (rule)</option>)}
          </select>
        </label>
        <label>Event names <input value={draft.names} placeholder="faulted, stuck" onInput={(e) => setDraft({ ...draft, names: (e.target as HTMLInputElement).value })} /></label>
        <label>Twin id contains <input value={draft.twin} onInput={(e) => setDraft({ ...draft, twin: (e.target as HTMLInputElement).value })} /></label>
        <button type="submit">Apply</button>
        <button type="button" onClick={() => setPaused(!paused)}>{paused ? 'Resume' : 'Pause'}</button>
      </form>
      <p class="muted">{rate.current.perSec.toFixed(0)} events/s arriving · showing the newest {items.length} (at most {KEEP}){paused ? ' · paused' : ''}</p>
      <VirtualList items={items} rowHeight={28} height={600} testid="event-feed" render={(e) => {
        const rel = `twins/${encodeURIComponent(e.type)}/${encodeURIComponent(e.twinId)}`
        return (
          <div class="row event-row" data-name={e.name} data-twin={`${e.type}/${e.twinId}`}>
            <span class="muted">{new Date(e.at).toLocaleTimeString()}</span>
            <span><a href={href(rel)} onClick={onLinkClick(rel)}>{e.type}/{e.twinId}</a></span>
            <strong>{e.name}</strong>
            <code class="ellipsis">{JSON.stringify(e.data)}</code>
          </div>
        )
      }} />
    </section>
  )
}
