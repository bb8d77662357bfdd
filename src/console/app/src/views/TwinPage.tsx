import type { Twin, TwinEvent } from 'twin-engine/client'
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { api, ApiError, seg, serverNow } from '../api.ts'
import { Statechart } from '../chart/Statechart.tsx'
import { Ring, useFrameRender } from '../frame.ts'
import { subscribe } from '../live.ts'
import { chartOf, hasScope, relativeTime, stateLabels, stateText, timerText, twinTypes, type CommandView, type HistoryEntry, type Principal, type TwinTypes } from '../model.ts'
import { href, onLinkClick } from '../router.ts'
import { SendPanel } from './SendPanel.tsx'

/** Transitions read from GET /twins/{type}/{id}/history (the engine keeps HISTORY_LENGTH per twin). */
const HISTORY_LIMIT = 100
/** History is re-read after changes at most this often. */
const HISTORY_EVERY_MS = 400

/** The twin view; `timers` (pending, soonest first) is absent when there are none. */
type TwinView = Twin

/**
 * A twin's page: its statechart with the current state(s) highlighted and the
 * transition just taken animated, live context, attributes, commands and
 * timers, the history timeline (click a step to see the chart at that step),
 * its derived events, and — with `write` — controls to send it an event or
 * a command. Rule actors (`/twins/{rule}/{group}`) get the same page.
 */
export function TwinPage({ type, id, principal }: { type: string; id: string; principal: Principal }) {
  const [types, setTypes] = useState<TwinTypes | null>(null)
  const [typesError, setTypesError] = useState<string | null>(null)
  const twin = useRef<TwinView | null>(null)
  const [missing, setMissing] = useState<string | null>(null)
  const [history, setHistory] = useState<HistoryEntry[]>([])
  const [historyError, setHistoryError] = useState<string | null>(null)
  const [selected, setSelected] = useState<number | null>(null)
  const events = useRef(new Ring<TwinEvent>(100))
  const seen = useRef(new Set<string>())
  const redraw = useFrameRender()
  const historyTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined)
  const historyBusy = useRef(false)

  const readHistory = async () => {
    if (historyBusy.current) return
    historyBusy.current = true
    try {
      const h = await api<{ transitions: HistoryEntry[] }>(`twins/${seg(type)}/${seg(id)}/history`, { query: { limit: HISTORY_LIMIT } })
      setHistory(h.transitions)
      setHistoryError(null)
    } catch (err) {
      const e = err as ApiError
      if (e.status !== 404 || e.missingRoute) setHistoryError(e.message)
    } finally {
      historyBusy.current = false
    }
  }
  const historySoon = () => {
    clearTimeout(historyTimer.current)
    historyTimer.current = setTimeout(() => void readHistory(), HISTORY_EVERY_MS)
  }

  useEffect(() => {
    twinTypes().then(setTypes, (err: ApiError) => setTypesError(err.message))
    api<TwinView>(`twins/${seg(type)}/${seg(id)}`).then(
      (t) => {
        if (!twin.current || t.rev > twin.current.rev) twin.current = t
        redraw()
      },
      (err: ApiError) => setMissing(err.message),
    )
    void readHistory()
    const take = (t: Twin) => {
      if (twin.current && t.rev <= twin.current.rev) return
      twin.current = t as TwinView
      setMissing(null)
      redraw()
      historySoon()
    }
    const sub = subscribe({ type, ids: [id], events: true }, {
      onState: take,
      onChange: take,
      onEvent: (e) => {
        if (seen.current.has(e.id)) return
        seen.current.add(e.id)
        if (seen.current.size > 1000) seen.current = new Set([...seen.current].slice(-500))
        events.current.push(e)
        redraw()
      },
      onError: (e) => setMissing(e.message),
    })
    return () => {
      sub.unsubscribe()
      clearTimeout(historyTimer.current)
    }
  }, [type, id])

  const t = twin.current
  const def = types ? chartOf(types, type) : null
  const labels = useMemo(() => (def ? stateLabels(def.chart) : new Map<string, string>()), [def?.chart])
  if (typesError) return <section><p class="error">{typesError}</p></section>
  if (types && !def) return <section><h1>{type}/{id}</h1><p class="error">No twin type or rule named “{type}” in this engine.</p></section>

  // The step to show: a clicked history entry, else the newest one if it is the twin's current rev (just taken).
  const step = selected !== null ? history.find((h) => h.rev === selected) ?? null : null
  const latest = history[0] && t && history[0].rev === t.rev ? history[0] : null
  const shownValue = step ? step.to : t?.value
  const animate = step ?? latest
  const commands = (t?.commands ?? {}) as Record<string, CommandView>

  return (
    <section class="twin-page" data-twin={`${type}/${id}`}>
      <header class="twin-head">
        <h1><span class="muted">{type}/</span>{id}</h1>
        {t && <span class="state-badge" data-testid="current-state">{stateText(t.value, labels)}</span>}
        {t && <span class="muted">rev {t.rev} · {new Date(t.updatedAt).toLocaleString()}</span>}
        {(t?.tags ?? []).map((tag) => <span class="chip" key={tag}>{tag}</span>)}
      </header>
      {missing && !t && <p class="not-available">{missing} The page shows it as soon as it changes.</p>}
      {def?.rule && (
        <div class="rule-inputs" data-testid="rule-inputs">
          <h2>Rule actor: inputs</h2>
          <ul>{def.rule.inputs.map((i, k) => (
            <li key={k}>
              <a href={href(`twins?type=${encodeURIComponent(i.twin)}&where=${encodeURIComponent(`attributes.${i.groupBy}:eq:${id}`)}`)} onClick={onLinkClick(`twins?type=${encodeURIComponent(i.twin)}&where=${encodeURIComponent(`attributes.${i.groupBy}:eq:${id}`)}`)}>{i.twin}</a>
              {' '}grouped by {i.groupBy}; changes: {i.changes}{i.events.length ? `; events: ${i.events.join(', ')}` : ''}
            </li>
          ))}</ul>
        </div>
      )}
      <div class="twin-main">
        <div class="chart-panel">
          <h2>Statechart {step && <span class="time-travel" data-testid="time-travel">showing rev {step.rev}: {step.event} · <button class="link" onClick={() => setSelected(null)}>back to live</button></span>}</h2>
          {def ? <Statechart chart={def.chart} value={shownValue ?? null} step={animate ? { from: animate.from, to: animate.to, event: animate.event, key: animate.rev } : null} /> : <p class="muted">Loading the definition…</p>}
        </div>
        <div class="side-panel">
          <div>
          <h2>Context</h2>
          <pre class="json" data-testid="context">{t ? JSON.stringify(t.context, null, 2) : '…'}</pre>
          </div>
          <div>
          <h2>Attributes</h2>
          {t?.attributes && Object.keys(t.attributes).length ? (
            <table class="plain" data-testid="attributes"><tbody>{Object.entries(t.attributes).map(([k, v]) => <tr key={k}><td>{k}</td><td>{v}</td></tr>)}</tbody></table>
          ) : <p class="muted">none</p>}
          </div>
          <div>
          <h2>Pending timers</h2>
          {t ? <Timers timers={t.timers ?? []} /> : <p class="muted">…</p>}
          </div>
        </div>
      </div>
      <h2>Commands</h2>
      {Object.keys(commands).length ? (
        <table class="plain commands" data-testid="commands">
          <thead><tr><th>name</th><th>status</th><th>desired</th><th>reported</th><th>by</th><th>sent</th><th>done</th></tr></thead>
          <tbody>{Object.entries(commands).map(([name, c]) => (
            <tr key={name} data-command={name} data-status={c.status}>
              <td>{name}</td><td class={`status ${c.status}`}>{c.status}{c.reason ? `: ${c.reason}` : ''}</td>
              <td><code>{JSON.stringify(c.payload ?? {})}</code></td><td><code>{c.reported === undefined ? '' : JSON.stringify(c.reported)}</code></td>
              <td>{c.by ?? ''}</td><td>{c.sentAt ? new Date(c.sentAt).toLocaleTimeString() : ''}</td><td>{c.doneAt ? new Date(c.doneAt).toLocaleTimeString() : ''}</td>
            </tr>
          ))}</tbody>
        </table>
      ) : <p class="muted">none</p>}
      {hasScope(principal, 'write') && def?.type && <SendPanel type={def.type} id={id} />}
      <div class="twin-grid">
        <div>
          <h2>History</h2>
          {historyError && <p class="error">{historyError}</p>}
          <ol class="timeline" data-testid="timeline">
            {history.map((h) => (
              <li key={h.rev} data-rev={h.rev} data-event={h.event} class={selected === h.rev ? 'selected' : ''}>
                <button class="link" onClick={() => setSelected(selected === h.rev ? null : h.rev)} title="show the statechart at this step">
                  <span class="num">#{h.rev}</span> <span class="muted">{new Date(h.at).toLocaleTimeString()}</span>{' '}
                  <strong class="event-name">{h.event}</strong>: {stateText(h.from, labels)} → {stateText(h.to, labels)}
                  {h.emitted.length > 0 && <span class="emitted"> ⇒ {h.emitted.join(', ')}</span>}
                </button>
              </li>
            ))}
            {history.length === 0 && !historyError && <li class="muted">no transitions kept</li>}
          </ol>
        </div>
        <div>
          <h2>Derived events</h2>
          <ol class="feed" data-testid="twin-events">
            {events.current.newestFirst().map((e) => (
              <li key={e.id} data-name={e.name}><span class="muted">{new Date(e.at).toLocaleTimeString()}</span> <strong>{e.name}</strong> <code>{JSON.stringify(e.data)}</code></li>
            ))}
            {events.current.size === 0 && <li class="muted">none since the page opened</li>}
          </ol>
        </div>
      </div>
    </section>
  )
}

/**
 * Pending timers with when they fire: in how long (ticking each second, on
 * the engine's clock) and at what time. A timer past due has not fired yet:
 * its shard's owner is behind or away.
 */
function Timers({ timers }: { timers: ReadonlyArray<{ id: string; due: number }> }) {
  const [, tick] = useState(0)
  useEffect(() => {
    if (!timers.length) return
    const t = setInterval(() => tick((n) => (n + 1) | 0), 1000)
    return () => clearInterval(t)
  }, [timers.length])
  if (!timers.length) return <p class="muted" data-testid="no-timers">none</p>
  const now = serverNow()
  return (
    <table class="plain timers" data-testid="timers">
      <tbody>{timers.map((tm) => {
        const at = new Date(tm.due)
        const sameDay = at.toDateString() === new Date(now).toDateString()
        return (
          <tr key={tm.id} data-timer={tm.id} data-due={tm.due} class={tm.due < now ? 'overdue' : ''}>
            <td title={tm.id}>{timerText(tm.id)}</td>
            <td class="when" data-testid="timer-in">{relativeTime(tm.due, now)}</td>
            <td class="muted" data-testid="timer-at" title={at.toISOString()}>{sameDay ? at.toLocaleTimeString() : at.toLocaleString()}</td>
          </tr>
        )
      })}</tbody>
    </table>
  )
}
