import { useState } from 'preact/hooks'
import { api, ApiError } from '../api.ts'
import { usePoll } from '../frame.ts'

interface ClusterStatus {
  now: number
  workers: Array<{ id: string; lastHeartbeatMs: number; shards: number[] }>
  shards: Array<{ shard: number; owner: string | null; epoch: number; lag: number; oldestUnappliedMs: number }>
}

/** GET /cluster (admin): live workers, shard owners, epochs and lag. */
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
  return (
    <section class="cluster">
      <h1>Cluster</h1>
      {error && <p class="error">{error}</p>}
      {c && (
        <>
          <h2>Workers ({c.workers.length})</h2>
          <table class="plain" data-testid="workers">
            <thead><tr><th>worker</th><th>last heartbeat</th><th>shards</th></tr></thead>
            <tbody>{c.workers.map((w) => <tr key={w.id}><td>{w.id}</td><td>{((c.now - w.lastHeartbeatMs) / 1000).toFixed(1)} s ago</td><td>{w.shards.length}</td></tr>)}</tbody>
          </table>
          <h2>Shards ({c.shards.length}) · lag {c.shards.reduce((s, x) => s + x.lag, 0)}</h2>
          <div class="shard-grid" data-testid="shards">
            {c.shards.map((s) => (
              <div key={s.shard} class={`shard${s.owner ? '' : ' unowned'}${s.lag > 0 ? ' lagging' : ''}`} title={`owner ${s.owner ?? 'none'}, epoch ${s.epoch}, lag ${s.lag}, oldest unapplied ${s.oldestUnappliedMs} ms`}>
                <span class="num">#{s.shard}</span> <span class="muted">e{s.epoch}</span> <span>{s.lag}</span>
                <div class="owner ellipsis">{s.owner ?? 'unowned'}</div>
              </div>
            ))}
          </div>
        </>
      )}
    </section>
  )
}
