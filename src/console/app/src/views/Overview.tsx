import { useEffect, useRef, useState } from 'preact/hooks'
import { api, ApiError } from '../api.ts'
import { usePoll } from '../frame.ts'
import { allStatePaths, hasScope, onlineOf, stateLabels, twinTypes, type Counts, type Health, type Principal, type TwinType, type TwinTypes, type TypeCounts } from '../model.ts'
import { href, onLinkClick } from '../router.ts'

/**
 * How often the overview reads its figures while the tab is visible. Counts
 * are polled, not pushed (docs/adr/0031-console-counts-polled.md): one
 * GET /twins/counts is one small hash per shard whatever the fleet's size,
 * and a poll never piles up (the next waits for the answer).
 */
const POLL_MS = 2000

interface Rates { ingest: number | null; applied: number | null; processName: string }

/**
 * Fleet overview: per type the twins in each state and online/offline (live
 * counts), dead letters by code, ingest rate and shard lag; for admins the
 * definition versions the engine runs and stores, and what the startup check
 * of the definitions against the stored twins found.
 */
export function Overview({ principal }: { principal: Principal }) {
  const [types, setTypes] = useState<TwinTypes | null>(null)
  const [typesError, setTypesError] = useState<string | null>(null)
  const [counts, setCounts] = useState<Counts | null>(null)
  const [countsMissing, setCountsMissing] = useState<string | null>(null)
  const [countsError, setCountsError] = useState<string | null>(null)
  const [rates, setRates] = useState<Rates | null>(null)
  const [health, setHealth] = useState<Health | null>(null)
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
      setCountsError(null)
    } catch (err) {
      const e = err as ApiError
      if (e.missingRoute) setCountsMissing('Per-state counts need GET /twins/counts, which this engine does not serve.')
      // Keep the last counts on screen, and say they are not current (Redis away: 503).
      else setCountsError(`Counts not current: ${e.message}`)
    }
  }, POLL_MS, [countsMissing])

  usePoll(async () => {
    // 503 "degraded" still carries the figures and the problems.
    const h = await api<Health>('health', { accept: [503] })
    setHealth(h)
    const now = performance.now()
    const accepted = h.ingest?.accepted ?? 0
    const applied = h.worker?.applied ?? 0
    const prev = last.current
    last.current = { at: now, accepted, applied }
    if (prev) {
      const secs = (now - prev.at) / 1000
      setRates({
        ingest: h.ingest ? Math.max(0, (accepted - prev.accepted) / secs) : null,
        applied: h.worker ? Math.max(0, (applied - prev.applied) / secs) : null,
        processName: (h.roles ?? []).join('+'),
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
      {admin && health && <DefinitionsCheck health={health} />}
      {typesError && <p class="error">{typesError}</p>}
      {countsMissing && <p class="not-available" data-testid="counts-missing">{countsMissing} Each state links to its twin list.</p>}
      {countsError && <p class="error" data-testid="counts-error">{countsError}</p>}
      <div class="type-cards">
        {types?.types.map((t) => <TypeCard key={t.type} type={t} counts={counts?.types[t.type]} running={admin ? health?.definitions?.versions[t.type] ?? t.version : undefined} />)}
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

/**
 * One twin type: total, online/offline (from the `online` indicator), each
 * state of its chart with its count (a link to its twins), tags (links to the
 * tag filter), other indicators; for admins the definition version this
 * engine runs and the versions its twins are stored at.
 */
function TypeCard({ type: t, counts: c, running }: { type: TwinType; counts: TypeCounts | undefined; running: number | undefined }) {
  const list = (query: string) => `twins?type=${encodeURIComponent(t.type)}&${query}`
  // Every state of the statechart, with 0 where no twin is; then any counted path the chart lacks.
  const states = [...new Set([...allStatePaths(t.statechart), ...Object.keys(c?.states ?? {}).sort()])]
  const online = onlineOf(t, c)
  const otherIndicators = Object.entries(c?.indicators ?? {}).filter(([name]) => name !== 'online')
  const stored = Object.entries(c?.versions ?? {}).sort((a, b) => Number(a[0]) - Number(b[0]))
  const labels = stateLabels(t.statechart)
  return (
    <article class="type-card" data-type={t.type}>
      <header>
        <h2><a href={href(`twins?type=${encodeURIComponent(t.type)}`)} onClick={onLinkClick(`twins?type=${encodeURIComponent(t.type)}`)}>{t.type}</a></h2>
        {running !== undefined && <span class="chip version" data-testid={`version-${t.type}`} title="the definition version this engine runs">v{running}</span>}
        <span class="total" data-testid={`total-${t.type}`}>{c ? `${c.total} twins` : ''}</span>
      </header>
      {t.description && <p class="muted">{t.description}</p>}
      {online && (
        <div class="online-line" data-testid={`online-line-${t.type}`}>
          <span class="online"><span class="dot on" /> <span data-testid={`online-${t.type}`}>{online.online}</span> online</span>
          <span class={online.offline ? 'offline some' : 'offline'}><span class="dot off" /> <span data-testid={`offline-${t.type}`}>{online.offline}</span> offline</span>
          <span class="bar">{c && c.total > 0 ? <span style={{ width: `${Math.round((online.online / c.total) * 100)}%` }} /> : null}</span>
        </div>
      )}
      <table class="counts">
        <tbody>
          {states.map((path) => {
            const rel = list(`state=${encodeURIComponent(path)}`)
            const depth = path.split('.').length - 1
            return (
              <tr key={path} data-state={path}>
                <td style={{ paddingLeft: `${0.4 + depth}em` }}><a href={href(rel)} onClick={onLinkClick(rel)}>{labels.get(path) ?? path.split('.').pop()}</a></td>
                <td class="num">{c ? (c.states[path] ?? 0) : ''}</td>
                <td class="bar">{c && c.total > 0 ? <span style={{ width: `${Math.round(((c.states[path] ?? 0) / c.total) * 100)}%` }} /> : null}</td>
              </tr>
            )
          })}
        </tbody>
      </table>
      {c?.tags && Object.keys(c.tags).length > 0 && (
        <p class="tags" data-testid={`tags-${t.type}`}>{Object.entries(c.tags).map(([tag, n]) => {
          const rel = list(`tag=${encodeURIComponent(tag)}`)
          return <a class="chip" key={tag} data-tag={tag} href={href(rel)} onClick={onLinkClick(rel)}>{tag} {n}</a>
        })}</p>
      )}
      {otherIndicators.length > 0 && (
        <p class="tags" data-testid={`indicators-${t.type}`}>{otherIndicators.map(([name, n]) => <span class="chip" key={name}>{name} {n} / {c!.total}</span>)}</p>
      )}
      {running !== undefined && stored.length > 0 && (
        <p class="stored-versions" data-testid={`stored-${t.type}`} title="twins per definition version they are stored at (GET /twins/counts)">
          stored at {stored.map(([v, n]) => <span key={v} class={`chip${Number(v) !== running ? ' warn' : ''}`}>v{v}: {n}</span>)}
        </p>
      )}
    </article>
  )
}

/** What `twin start` found checking its definitions against the stored twins (GET /health `definitions`). */
function DefinitionsCheck({ health }: { health: Health }) {
  const d = health.definitions
  const problems = d?.problems ?? []
  return (
    <div class={`definitions-check${problems.length ? ' has-problems' : ''}`} data-testid="definitions-check">
      {!d && <p class="muted">This API process did not check the definitions against the stored twins (GET /health has no <code>definitions</code>).</p>}
      {d && problems.length === 0 && (
        <p class="muted">Definitions checked against the stored twins at start: no problems. Running {Object.entries(d.versions).map(([t, v]) => `${t} v${v}`).join(', ') || 'no types'}.</p>
      )}
      {problems.length > 0 && (
        <>
          <h2>The definitions cannot handle some stored twins</h2>
          <ul data-testid="definition-problems">{problems.map((p, i) => <li key={i}>{p}</li>)}</ul>
          <p class="muted">Found at start (GET /health). <code>twin migrate --dry-run</code> lists every twin affected.</p>
        </>
      )}
      {health.problems && health.problems.length > 0 && (
        <p class="error" data-testid="health-problems">Engine degraded: {health.problems.join('; ')}</p>
      )}
    </div>
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
