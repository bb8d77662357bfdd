import { useEffect, useMemo, useState } from 'preact/hooks'
import { activePaths, type StateChart } from '../model.ts'
import { cachedLayout, type ChartLayout, type EdgeLine } from './layout.ts'

/**
 * A statechart drawn from its definition (ELK layout, see layout.ts), with the
 * twin's active state nodes highlighted and the transition just taken
 * animated. `taken` changes (a new `takenKey`) re-run the animation.
 */
export interface StatechartProps {
  chart: StateChart
  /** the twin's state value (XState), or null when unknown */
  value: unknown
  /** what was just taken (or the step shown when travelling in time) */
  step?: { from: unknown; to: unknown; event: string; key: string | number } | null
}

/** Edges and targetless transitions of `step`: a transition whose source was active and whose target is active now. */
export function takenTransitions(chart: StateChart, from: unknown, to: unknown, event: string): Set<string> {
  const before = new Set(activePaths(from))
  const after = new Set(activePaths(to))
  const out = new Set<string>()
  chart.transitions.forEach((t, i) => {
    if (t.event !== event) return
    if (t.source !== '' && !before.has(t.source)) return
    if (t.targets.length === 0) {
      out.add(`t${i}`)
      return
    }
    t.targets.forEach((target, k) => {
      if (after.has(target)) out.add(`e${i}-${k}`)
    })
  })
  return out
}

function pathOf(points: EdgeLine['points']): string {
  if (points.length === 0) return ''
  // ELK's spline routing gives cubic control points after the start point.
  if (points.length >= 4 && (points.length - 1) % 3 === 0) {
    let d = `M${points[0]!.x},${points[0]!.y}`
    for (let i = 1; i < points.length; i += 3) d += ` C${points[i]!.x},${points[i]!.y} ${points[i + 1]!.x},${points[i + 1]!.y} ${points[i + 2]!.x},${points[i + 2]!.y}`
    return d
  }
  return points.map((p, i) => `${i ? 'L' : 'M'}${p.x},${p.y}`).join(' ')
}

export function Statechart({ chart, value, step }: StatechartProps) {
  const [layout, setLayout] = useState<ChartLayout | null>(null)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    let live = true
    setLayout(null)
    cachedLayout(chart).then((l) => live && setLayout(l), (err: Error) => live && setError(err.message))
    return () => void (live = false)
  }, [chart])

  const active = useMemo(() => new Set(activePaths(value)), [value])
  const taken = useMemo(() => (step ? takenTransitions(chart, step.from, step.to, step.event) : new Set<string>()), [chart, step])

  if (error) return <p class="error">The statechart could not be laid out: {error}</p>
  if (!layout) return <div class="chart-loading">Laying out the statechart…</div>

  const leafActive = (path: string) => active.has(path) && ![...active].some((p) => p.startsWith(`${path}.`))
  const animKey = step?.key ?? 'none'
  return (
    <div class="statechart" data-active={[...active].join(' ')}>
      <svg viewBox={`0 0 ${Math.ceil(layout.width)} ${Math.ceil(layout.height)}`} width={Math.ceil(layout.width)} height={Math.ceil(layout.height)} role="img" aria-label="statechart">
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" class="arrowhead" />
          </marker>
          <marker id="arrow-taken" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" class="arrowhead taken" />
          </marker>
        </defs>
        {layout.nodes.map((n) => {
          if (n.kind === 'initial') return <circle key={n.id} class="initial" cx={n.x + n.width / 2} cy={n.y + n.height / 2} r={n.width / 2} />
          const isActive = n.kind === 'state' && active.has(n.path)
          const current = n.kind === 'state' && leafActive(n.path)
          const cls = ['state', n.kind, n.type, n.region ? 'region' : '', isActive ? 'active' : '', current ? 'current' : ''].filter(Boolean).join(' ')
          return (
            <g key={n.id} class={cls} data-path={n.path} data-state={n.path} data-label={n.label}>
              <rect x={n.x} y={n.y} width={n.width} height={n.height} rx={n.kind === 'any' ? 13 : 8} />
              {n.label !== n.key && <title>{`${n.label} (state ${n.path})`}</title>}
              {n.type === 'final' && <rect class="final-inner" x={n.x + 3} y={n.y + 3} width={n.width - 6} height={n.height - 6} rx={6} />}
              <text class="state-label" x={n.x + (n.type === 'compound' || n.type === 'parallel' ? 10 : n.width / 2)} y={n.y + 20} text-anchor={n.type === 'compound' || n.type === 'parallel' ? 'start' : 'middle'}>
                {n.label}{n.type === 'parallel' ? ' ∥' : ''}
              </text>
              {n.internal.map(([i, text], k) => (
                <text key={`${animKey}-${i}`} class={`internal${taken.has(`t${i}`) ? ' taken' : ''}`} x={n.x + 8} y={n.y + 38 + k * 14}>{text}</text>
              ))}
            </g>
          )
        })}
        {layout.edges.map((e) => {
          const isTaken = taken.has(e.id)
          return (
            <g key={isTaken ? `${e.id}-${animKey}` : e.id} class={`edge ${e.kind}${isTaken ? ' taken' : ''}`} data-edge={e.id}>
              <path d={pathOf(e.points)} marker-end={isTaken ? 'url(#arrow-taken)' : 'url(#arrow)'} />
              {e.label && (
                <text class="edge-label" x={e.label.x + 3} y={e.label.y + e.label.height - 3}>{e.label.text}</text>
              )}
            </g>
          )
        })}
      </svg>
      {layout.rootInternal.length > 0 && (
        <p class="root-internal">
          In every state:{' '}
          {layout.rootInternal.map(([i, text]) => <span key={`${animKey}-${i}`} class={`chip${taken.has(`t${i}`) ? ' taken' : ''}`}>{text}</span>)}
        </p>
      )}
    </div>
  )
}
