import { useEffect, useRef, useState } from 'preact/hooks'
import { api, ApiError } from '../api.ts'
import { usePoll } from '../frame.ts'
import { allStatePaths, hasScope, twinTypes, type Counts, type Principal, type TwinTypes } from '../model.ts'
import { href, onLinkClick } from '../router.ts'

/** How often the overview reads its figures; counts are exact and cheap server-side (GET /twins/counts). */
const POLL_MS = 2000

interface Rates { ingest: number | null; applied: number | null; processName: string }

/** Fleet overview: per type the twins in each state (live), dead letters by code, ingest rate and shard lag. */
export function Overview({ principal }: { principal: Principal }) {
  const [types, setTypes] = useState<TwinTypes | null>(null)
  const [typesError, setTypesError] = useState<string | null>(null)
  const [counts, setCounts] = useState<Counts | null>(null)
  const [countsMissing, setCountsMissing] = useState<string | null>(null)
  const [rates, setRates] = useState<Rates | null>(null)
  const [dead, setDead] = useState<Record<string, number> | null>(null)
  const [lag, setLag] = useState<{ total: number; oldestMs: number; shards: number; workers: number } | null>(null)
  const last = useRef<{ at: number; accepted: number; applied: number } | null>(null)
  const admin = hasScope(principal, 'admin')

  useEffect(() => {
    twinTypes().then(setTypes, (err: ApiError) => setTypesError(err.message))
  }, [])

  usePoll(async () => {
    if (countsMissing) return
    try {
      setCounts(await api<Counts>('twins/counts'))
    } catch (err) {
      const e = err as ApiError
      if (e.status === 404) setCountsMissing('Per-state counts need GET /twins/counts, which this engine does not serve yet.')
      else throw err
    }
  }, POLL_MS, [countsMissing])

  usePoll(async () => {
    const health = await api<{ ingest?: { accepted: number }; worker?: { applied: number; id: string } | null; roles?: string[] }>('health')
    const now = performance.now()
    const accepted = health.ingest?.accepted ?? 0
    const applied = health.worker?.applied ?? 0
    const prev = last.current
    last.current = { at: now, accepted, applied }
    if (prev) {
      const secs = (now - prev.at) / 1000
      setRates({
        ingest: health.ingest ? Math.max(0, (accepted - prev.accepted) / secs) : null,
        applied: health.worker ? Math.max(0, (applied - prev.applied) / secs) : null,
        processName: (health.roles ?? []).join('+'),
      })
    }
  }, POLL_MS, [])

  usePoll(async () => {
    if (!admin) return
    const [d, c] = await Promise.all([
      api<{ counts: Record<string, number> }>('dead-letters', { query: { limit: 1 } }),
      api<{ workers: unknown[]; shards: Array<{ lag: number; oldestUnappliedMs: number }> }>('cluster'),
    ])
    setDead(d.counts)
    setLag({ total: c.shards.reduce((s, x) => s + x.lag, 0), oldestMs: Math.max(0, ...c.shards.map((x) => x.oldestUnappliedMs)), shards: c.shards.length, workers: c.workers.length })
  }, POLL_MS * 2, [admin])

  return (
    <section class="overview">
      <h1>Fleet</h1>
      <div class="figures">
        <Figure label="Ingest" value={rates?.ingest == null ? '…' : `${rates.ingest.toFixed(0)} events/s`} note={rates ? `this API process (${rates.processName})` : ''} testid="ingest-rate" />
        <Figure label="Applied" value={rates?.applied == null ? (rates ? 'no worker here' : '…') : `${rates.applied.toFixed(0)} events/s`} note="by this process's worker" />
        {admin && <Figure label="Shard lag" value={lag ? `${lag.total} events` : '…'} note={lag ? `oldest unapplied ${(lag.oldestMs / 1000).toFixed(1)} s · ${lag.workers} worker(s), ${lag.shards} shards` : ''} testid="shard-lag" />}
        {admin && <Figure label="Dead letters" value={dead ? String(Object.values(dead).reduce((a, b) => a + b, 0)) : '…'} note="ever, all shards" />}
      </div>
      {typesError && <p class="error">{typesError}</p>}
      {countsMissing && <p class="not-available" data-testid="counts-missing">{countsMissing} Each state links to its twin list.</p>}
      <div class="type-cards">
        {types?.types.map((t) => {
          const c = counts?.types[t.type]
          // Every state of the statechart, with 0 where no twin is; then any counted path the chart lacks.
          const states = [...new Set([...allStatePaths(t.statechart), ...Object.keys(c?.states ?? {}).sort()])]
          return (
            <article class="type-card" data-type={t.type} key={t.type}>
              <header>
                <h2><a href={href(`twins?type=${encodeURIComponent(t.type)}`)} onClick={onLinkClick(`twins?type=${encodeURIComponent(t.type)}`)}>{t.type}</a></h2>
                <span class="total" data-testid={`total-${t.type}`}>{c ? `${c.total} twins` : ''}</span>
              </header>
              {t.description && <p class="muted">{t.description}</p>}
              <table class="counts">
                <tbody>
                  {states.map((path) => {
                    const rel = `twins?type=${encodeURIComponent(t.type)}&state=${encodeURIComponent(path)}`
                    const depth = path.split('.').length - 1
                    return (
                      <tr key={path} data-state={path}>
                        <td style={{ paddingLeft: `${0.4 + depth}em` }}><a href={href(rel)} onClick={onLinkClick(rel)}>{path.split('.').pop()}</a></td>
                        <td class="num">{c ? (c.states[path] ?? 0) : ''}</td>
                        <td class="bar">{c && c.total > 0 ? <span style={{ width: `${Math.round(((c.states[path] ?? 0) / c.total) * 100)}%` }} /> : null}</td>
                      </tr>
                    )
                  })}
                </tbody>
              </table>
              {c?.tags && Object.keys(c.tags).length > 0 && (
                <p class="tags">{Object.entries(c.tags).map(([tag, n]) => <span class="chip" key={tag}>{tag} {n}</span>)}</p>
              )}
              {c?.indicators && Object.keys(c.indicators).length > 0 && (
                <p class="tags" data-testid={`indicators-${t.type}`}>{Object.entries(c.indicators).map(([name, n]) => <span class="chip" key={name}>{name} {n} / {c.total}</span>)}</p>
              )}
            </article>
          )
        })}
      </div>
      {admin && dead && Object.keys(dead).length > 0 && (
        <>
          <h2>Dead letters by code</h2>
          <table class="plain" data-testid="dead-letter-counts">
            <tbody>{Object.entries(dead).sort((a, b) => b[1] - a[1]).map(([code, n]) => <tr key={code}><td>{code}</td><td class="num">{n}</td></tr>)}</tbody>
          </table>
        </>
      )}
      {types && types.rules.length > 0 && (
        <p class="muted">Rules: {types.rules.map((r) => <a key={r.name} class="chip" href={href(`twins?type=${encodeURIComponent(r.name)}`)} onClick={onLinkClick(`twins?type=${encodeURIComponent(r.name)}`)}>{r.name}</a>)}</p>
      )}
    </section>
  )
}

function Figure({ label, value, note, testid }: { label: string; value: string; note?: string; testid?: string }) {
  return (
    <div class="figure" data-testid={testid}>
      <div class="label">{label}</div>
      <div class="value">{value}</div>
      {note && <div class="note">{note}</div>}
    </div>
  )
}
