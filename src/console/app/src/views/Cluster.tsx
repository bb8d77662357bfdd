import { useState } from 'preact/hooks'
import { api, ApiError } from '../api.ts'
import { usePoll } from '../frame.ts'
import { mixedVersions, type ClusterStatus } from '../model.ts'

/**
 * GET /cluster (admin): live workers with the definition versions they run,
 * shard owners, epochs, lag and held twins. A fleet running two versions of
 * a type (a rolling upgrade under way, or stopped half way) is called out at
 * the top, and so are twins whose input is held because they are stored by a
 * newer version than their shard's owner has.
 */
export function Cluster() {
  const [c, setC] = useState<ClusterStatus | null>(null)
  const [error, setError] = useState<string | null>(null)
  usePoll(async () => {
    try {
      setC(await api<ClusterStatus>('cluster'))
      setError(null)
    } catch (err) {
      setError((err as ApiError).message)
    }
  }, 2000, [])
  const mixed = c ? mixedVersions(c.workers) : new Map<string, Map<number, string[]>>()
  const held = c ? c.shards.reduce((n, s) => n + (s.heldTwins ?? 0), 0) : 0
  const types = c ? [...new Set(c.workers.flatMap((w) => Object.keys(w.versions ?? {})))].sort() : []
  return (
    <section class="cluster">
      <h1>Cluster</h1>
      {error && <p class="error">{error}</p>}
      {mixed.size > 0 && (
        <div class="notice mixed" data-testid="mixed-versions" role="status">
          <strong>Mixed definition versions</strong> (a rolling upgrade under way?):
          <ul>{[...mixed].map(([type, versions]) => (
            <li key={type} data-type={type}>{type}: {[...versions].sort((a, b) => a[0] - b[0]).map(([v, ws]) => `v${v} on ${ws.length} worker(s)`).join(', ')}</li>
          ))}</ul>
          Shards go to workers that have the versions their twins are stored at; finish the rollout so every worker runs one version.
        </div>
      )}
      {held > 0 && (
        <div class="notice held" data-testid="held-twins" role="status">
          <strong>{held} twin(s) held</strong>: stored by a newer definition version than their shard's owner runs, so their input
          waits, in order, until a worker with that version owns the shard (shards marked below).
        </div>
      )}
      {c && (
        <>
          <h2>Workers ({c.workers.length})</h2>
          <table class="plain" data-testid="workers">
            <thead><tr><th>worker</th><th>last heartbeat</th><th>shards</th>{types.map((t) => <th key={t}>{t}</th>)}</tr></thead>
            <tbody>{c.workers.map((w) => (
              <tr key={w.id} data-worker={w.id}>
                <td>{w.id}</td>
                <td>{((c.now - w.lastHeartbeatMs) / 1000).toFixed(1)} s ago</td>
                <td class="num">{w.shards.length}</td>
                {types.map((t) => {
                  const v = w.versions?.[t]
                  return <td key={t} class={`num version${mixed.has(t) ? ' mixed' : ''}`} data-version-of={t}>{v === undefined ? '—' : `v${v}`}</td>
                })}
              </tr>
            ))}</tbody>
          </table>
          {types.length === 0 && c.workers.length > 0 && <p class="muted">The workers do not advertise definition versions (an engine before rolling upgrades).</p>}
          <h2>Shards ({c.shards.length}) · lag {c.shards.reduce((s, x) => s + x.lag, 0)} · held twins {held}</h2>
          <div class="shard-grid" data-testid="shards">
            {c.shards.map((s) => (
              <div key={s.shard} data-shard={s.shard} data-held={s.heldTwins ?? 0} class={`shard${s.owner ? '' : ' unowned'}${s.lag > 0 ? ' lagging' : ''}${s.heldTwins ? ' holding' : ''}`} title={`owner ${s.owner ?? 'none'}, epoch ${s.epoch}, lag ${s.lag}, oldest unapplied ${s.oldestUnappliedMs} ms, held twins ${s.heldTwins ?? 0}`}>
                <span class="num">#{s.shard}</span> <span class="muted">e{s.epoch}</span> <span title="lag">{s.lag}</span>
                {s.heldTwins ? <span class="held-count" title="held twins"> · {s.heldTwins} held</span> : null}
                <div class="owner ellipsis">{s.owner ?? 'unowned'}</div>
              </div>
            ))}
          </div>
        </>
      )}
    </section>
  )
}
