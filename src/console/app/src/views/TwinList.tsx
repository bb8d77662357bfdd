import type { Subscription, Twin } from 'twin-engine/client'
import { useEffect, useRef, useState } from 'preact/hooks'
import { api, ApiError } from '../api.ts'
import { useFrameRender } from '../frame.ts'
import { subscribe } from '../live.ts'
import { allStatePaths, chartOf, stateLabels, stateText, twinTypes, type Counts, type TwinTypes } from '../model.ts'
import { href, navigate, onLinkClick } from '../router.ts'
import { VirtualList } from './VirtualList.tsx'

/** Rows asked per request (GET /twins `limit`). */
const PAGE = 200
/** Rows the list holds at most: "load more" stops there (bounded memory). */
const MAX_ROWS = 10_000
/** Requests one "load" may follow `next` through while filters skip everything (each examines ≤ 5,000 twins). */
const MAX_HOPS = 20
const ROW = 30

interface Filters { type: string; state: string; tag: string; where: string[] }

function filtersOf(q: URLSearchParams): Filters {
  return { type: q.get('type') ?? '', state: q.get('state') ?? '', tag: q.get('tag') ?? '', where: q.getAll('where') }
}

function queryOf(f: Filters): string {
  const q = new URLSearchParams()
  if (f.type) q.set('type', f.type)
  if (f.state) q.set('state', f.state)
  if (f.tag) q.set('tag', f.tag)
  for (const w of f.where) if (w.trim()) q.append('where', w.trim())
  const s = q.toString()
  return s ? `twins?${s}` : 'twins'
}

/**
 * The twin list: the API's filters (type, state, tag, where) run in the
 * engine while paging by cursor. Rows are virtualised, and only the rows in
 * view are subscribed to over the WebSocket, their changes drawn once per
 * frame.
 */
export function TwinList({ query }: { query: URLSearchParams }) {
  const filters = filtersOf(query)
  const key = queryOf(filters)
  const [types, setTypes] = useState<TwinTypes | null>(null)
  const [draft, setDraft] = useState<Filters>(filters)
  const [error, setError] = useState<string | null>(null)
  const [loading, setLoading] = useState(false)
  const rows = useRef<Twin[]>([])
  const index = useRef(new Map<string, number>())
  const next = useRef<string | undefined>(undefined)
  const [done, setDone] = useState(false)
  const redraw = useFrameRender()
  const subs = useRef<Subscription[]>([])
  const rangeTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined)

  const [knownTags, setKnownTags] = useState<string[]>([])
  useEffect(() => void twinTypes().then(setTypes, () => undefined), [])
  // Tags the type's twins hold now (GET /twins/counts), offered in the tag field.
  useEffect(() => {
    setKnownTags([])
    if (!draft.type) return
    api<Counts>('twins/counts', { query: { type: draft.type } }).then((c) => setKnownTags(Object.keys(c.types[draft.type]?.tags ?? {})), () => undefined)
  }, [draft.type])
  useEffect(() => setDraft(filters), [key])

  const load = async (reset: boolean) => {
    if (reset) {
      rows.current = []
      index.current = new Map()
      next.current = undefined
      setDone(false)
    }
    setLoading(true)
    setError(null)
    try {
      let found = 0
      for (let hop = 0; hop < MAX_HOPS && found < PAGE && rows.current.length < MAX_ROWS; hop++) {
        const page = await api<{ twins: Twin[]; next?: string }>('twins', {
          query: { type: filters.type || undefined, state: filters.state || undefined, tag: filters.tag || undefined, where: filters.where, limit: PAGE, cursor: next.current },
        })
        for (const t of page.twins) {
          const k = `${t.type}/${t.id}`
          if (index.current.has(k)) continue
          index.current.set(k, rows.current.length)
          rows.current.push(t)
          found++
        }
        next.current = page.next
        if (!page.next) {
          setDone(true)
          break
        }
      }
    } catch (err) {
      setError((err as ApiError).message)
    } finally {
      setLoading(false)
      redraw()
    }
  }

  useEffect(() => {
    void load(true)
    return () => {
      for (const s of subs.current) s.unsubscribe()
      subs.current = []
    }
  }, [key])

  /** Subscribe to the rows in view (debounced while scrolling). */
  const onRange = (start: number, end: number) => {
    clearTimeout(rangeTimer.current)
    rangeTimer.current = setTimeout(() => {
      for (const s of subs.current) s.unsubscribe()
      const byType = new Map<string, string[]>()
      for (const t of rows.current.slice(start, end)) byType.set(t.type, [...(byType.get(t.type) ?? []), t.id])
      subs.current = [...byType].map(([type, ids]) => subscribe({ type, ids }, {
        onState: apply,
        onChange: apply,
      }))
    }, 250)
  }
  const apply = (t: Twin) => {
    const i = index.current.get(`${t.type}/${t.id}`)
    if (i === undefined) return
    const held = rows.current[i]!
    if (t.rev < held.rev) return
    rows.current[i] = t
    redraw()
  }

  // State labels per type (`meta: { label }`), made once per type.
  const labels = useRef(new Map<string, Map<string, string>>())
  const labelsOf = (type: string) => {
    let m = labels.current.get(type)
    if (!m && types) labels.current.set(type, (m = stateLabels(chartOf(types, type)?.chart ?? { initial: null, states: [], transitions: [], delays: {} })))
    return m
  }
  const statePaths = types?.types.find((t) => t.type === draft.type)?.statechart ?? types?.rules.find((r) => r.name === draft.type)?.statechart
  const apply_ = (e: Event) => {
    e.preventDefault()
    navigate(queryOf(draft))
  }

  return (
    <section class="twin-list">
      <h1>Twins</h1>
      <form class="filters" onSubmit={apply_}>
        <label>Type
          <select value={draft.type} onChange={(e) => setDraft({ ...draft, type: (e.target as HTMLSelectElement).value })} name="type">
            <option value="">any</option>
            {types?.types.map((t) => <option key={t.type} value={t.type}>{t.type}</option>)}
            {types?.rules.map((r) => <option key={r.name} value={r.name}>{r.name} (rule)</option>)}
          </select>
        </label>
        <label>State
          <input name="state" list="state-paths" value={draft.state} placeholder="fault, normal.moving" onInput={(e) => setDraft({ ...draft, state: (e.target as HTMLInputElement).value })} />
          <datalist id="state-paths">{statePaths && allStatePaths(statePaths).map((p) => <option key={p} value={p} />)}</datalist>
        </label>
        <label>Tag
          <input name="tag" list="tag-names" value={draft.tag} placeholder="operative" onInput={(e) => setDraft({ ...draft, tag: (e.target as HTMLInputElement).value })} />
          <datalist id="tag-names">{knownTags.map((t) => <option key={t} value={t} />)}</datalist>
        </label>
        <label class="wide">Where (one per line)
          <textarea name="where" rows={2} placeholder="context.floor:gt:3&#10;attributes.building:eq:b1" value={draft.where.join('\n')} onInput={(e) => setDraft({ ...draft, where: (e.target as HTMLTextAreaElement).value.split('\n') })} />
        </label>
        <button type="submit">Apply</button>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      <p class="muted" data-testid="list-status">
        {rows.current.length} twin(s) shown{done ? ', no more' : next.current ? ', more available' : ''}{loading ? ' · loading…' : ''}
      </p>
      <div class="row header-row"><span>twin</span><span>state</span><span>rev</span><span>updated</span><span>tags / attributes</span></div>
      <VirtualList items={rows.current} rowHeight={ROW} height={560} onRange={onRange} testid="twin-rows" render={(t) => {
        const rel = `twins/${encodeURIComponent(t.type)}/${encodeURIComponent(t.id)}`
        return (
          <div class="row" data-twin={`${t.type}/${t.id}`}>
            <span><a href={href(rel)} onClick={onLinkClick(rel)}>{t.type}/{t.id}</a></span>
            <span class="state-text">{stateText(t.value, labelsOf(t.type))}</span>
            <span class="num">{t.rev}</span>
            <span class="muted">{new Date(t.updatedAt).toLocaleTimeString()}</span>
            <span class="muted ellipsis">{(t.tags ?? []).join(' ')} {t.attributes ? Object.entries(t.attributes).map(([k, v]) => `${k}=${v}`).join(' ') : ''}</span>
          </div>
        )
      }} />
      {!done && next.current && rows.current.length < MAX_ROWS && <button onClick={() => void load(false)} disabled={loading}>Load more</button>}
      {rows.current.length >= MAX_ROWS && <p class="muted">The list holds at most {MAX_ROWS} twins; narrow the filter.</p>}
    </section>
  )
}
