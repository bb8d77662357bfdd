import { useEffect, useState } from 'preact/hooks'
import { ApiError } from '../api.ts'
import { twinTypes, type TwinTypes } from '../model.ts'
import { href, onLinkClick } from '../router.ts'

/** The rules: each group's actor is a twin (`/twins/{rule}/{group}`), listed like twins. */
export function Rules() {
  const [types, setTypes] = useState<TwinTypes | null>(null)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => void twinTypes().then(setTypes, (err: ApiError) => setError(err.message)), [])
  return (
    <section class="rules">
      <h1>Rules</h1>
      {error && <p class="error">{error}</p>}
      {types?.rules.length === 0 && <p class="muted">This engine runs no rules.</p>}
      {types?.rules.map((r) => {
        const rel = `twins?type=${encodeURIComponent(r.name)}`
        return (
          <article key={r.name} class="type-card">
            <h2><a href={href(rel)} onClick={onLinkClick(rel)}>{r.name}</a> <span class="muted">v{r.version}</span></h2>
            {r.description && <p>{r.description}</p>}
            <table class="plain"><thead><tr><th>input</th><th>grouped by</th><th>changes</th><th>events</th></tr></thead>
              <tbody>{r.inputs.map((i, k) => <tr key={k}><td>{i.twin}</td><td>{i.groupBy}</td><td>{i.changes}</td><td>{i.events.join(', ')}</td></tr>)}</tbody>
            </table>
            <p class="muted">Each group's actor opens as a twin page from the list.</p>
          </article>
        )
      })}
    </section>
  )
}
