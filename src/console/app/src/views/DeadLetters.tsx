import { useState } from 'preact/hooks'
import { api, ApiError } from '../api.ts'
import { usePoll } from '../frame.ts'

interface DeadLetter { id: string; at: number; shard: number; code: string; reason: string; src: string; topic?: string; twin?: string; event?: string; payload: string }

/** GET /dead-letters (admin): counts by code and the newest entries with reason, topic and payload. */
export function DeadLetters() {
  const [data, setData] = useState<{ counts: Record<string, number>; deadLetters: DeadLetter[] } | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [open, setOpen] = useState<string | null>(null)
  usePoll(async () => {
    try {
      setData(await api('dead-letters', { query: { limit: 200 } }))
      setError(null)
    } catch (err) {
      setError((err as ApiError).message)
    }
  }, 5000, [])
  return (
    <section class="dead-letters">
      <h1>Dead letters</h1>
      <p class="muted">Input the engine acknowledged but could not use, kept with its reason (docs/errors.md).</p>
      {error && <p class="error">{error}</p>}
      {data && (
        <>
          <table class="plain"><tbody>{Object.entries(data.counts).map(([code, n]) => <tr key={code}><td>{code}</td><td class="num">{n}</td></tr>)}</tbody></table>
          <table class="plain wide-table" data-testid="dead-letter-list">
            <thead><tr><th>time</th><th>code</th><th>reason</th><th>topic / twin</th><th>payload</th></tr></thead>
            <tbody>{data.deadLetters.map((d) => (
              <tr key={`${d.shard}:${d.id}`} onClick={() => setOpen(open === d.id ? null : d.id)}>
                <td class="muted">{new Date(d.at).toLocaleString()}</td>
                <td>{d.code}</td>
                <td>{d.reason}</td>
                <td>{d.topic ?? ''}{d.twin ? ` ${d.twin}` : ''}{d.event ? ` (${d.event})` : ''}</td>
                <td><code class={open === d.id ? 'payload full' : 'payload ellipsis'}>{d.payload}</code></td>
              </tr>
            ))}</tbody>
          </table>
          {data.deadLetters.length === 0 && <p class="muted">none</p>}
        </>
      )}
    </section>
  )
}
