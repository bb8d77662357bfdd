import type { ElkExtendedEdge, ElkLabel, ElkNode } from 'elkjs/lib/elk-api'
import type { StateChart, StateInfo, TransitionInfo } from '../model.ts'

/**
 * Lays out a twin type's statechart (GET /twin-types) with ELK's layered
 * algorithm: compound states contain their children, parallel regions are
 * compound nodes of their own, every transition with a target is an edge
 * labelled with its event (delays and `always` named, guards in brackets).
 * Transitions without a target (actions only) are listed inside their state,
 * so the graph shows moves, not bookkeeping. All coordinates are absolute
 * (`elk.json.*Coords: ROOT`).
 */

export interface NodeBox {
  id: string
  path: string
  key: string
  /** what the chart shows: the state's label (`meta: { label }`) when it has one, else its key */
  label: string
  kind: 'state' | 'initial' | 'any'
  type: string
  x: number
  y: number
  width: number
  height: number
  /** targetless transitions shown inside the state: [transition index, text] */
  internal: Array<[number, string]>
  depth: number
  /** the state is a region of a parallel state */
  region: boolean
}

export interface EdgeLine {
  id: string
  /** index into chart.transitions; -1 for initial markers */
  transition: number
  points: Array<{ x: number; y: number }>
  label?: { text: string; x: number; y: number; width: number; height: number }
  kind: 'event' | 'after' | 'always' | 'initial'
}

export interface ChartLayout {
  width: number
  height: number
  nodes: NodeBox[]
  edges: EdgeLine[]
  /** targetless transitions of the machine's root: they apply in every state */
  rootInternal: Array<[number, string]>
}

const CHAR = 8.2
const SMALL_CHAR = 6.8
const LINE = 14
/** ELK is most of the console's code: loaded on the first twin page, not with the overview. */
let elk: Promise<{ layout(graph: ElkNode): Promise<ElkNode> }> | null = null
const elkInstance = () => (elk ??= import('elkjs/lib/elk.bundled.js').then(({ default: ELK }) => new ELK()))

export function transitionText(t: TransitionInfo, delays: StateChart['delays']): string {
  const guard = t.guard ? ` [${t.guard}]` : ''
  if (t.always) return `always${guard}`
  if (t.after !== undefined) {
    const ms = typeof t.after === 'number' ? t.after : delays[t.after]
    const name = typeof t.after === 'number' ? '' : `${t.after} `
    return `after ${name}${ms == null ? '' : `(${formatMs(ms)})`}${guard}`.replace(/ $/, '')
  }
  return `${t.event}${guard}`
}

export function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0 && ms >= 3_600_000) return `${ms / 3_600_000} h`
  if (ms % 60_000 === 0 && ms >= 60_000) return `${ms / 60_000} min`
  if (ms >= 1000) return `${+(ms / 1000).toFixed(1)} s`
  return `${ms} ms`
}

const stateId = (path: string) => `s:${path}`

export async function layoutChart(chart: StateChart): Promise<ChartLayout> {
  const internal = new Map<string, Array<[number, string]>>()
  const rootInternal: Array<[number, string]> = []
  const edges: ElkExtendedEdge[] = []
  const edgeInfo = new Map<string, { transition: number; kind: EdgeLine['kind']; text?: string }>()
  let anyNode = false

  chart.transitions.forEach((t, i) => {
    const text = transitionText(t, chart.delays)
    if (t.targets.length === 0) {
      if (t.source === '') rootInternal.push([i, text])
      else internal.set(t.source, [...(internal.get(t.source) ?? []), [i, text]])
      return
    }
    if (t.source === '') anyNode = true
    t.targets.forEach((target, k) => {
      const id = `e${i}-${k}`
      const label: ElkLabel = { id: `${id}:label`, text, width: text.length * SMALL_CHAR + 6, height: LINE }
      edges.push({ id, sources: [t.source === '' ? 'any' : stateId(t.source)], targets: [stateId(target)], labels: [label] })
      edgeInfo.set(id, { transition: i, kind: t.always ? 'always' : t.after !== undefined ? 'after' : 'event', text })
    })
  })

  const initialMarker = (parentPath: string, initial: string | undefined, children: ElkNode[]) => {
    if (!initial) return
    const id = `i:${parentPath}`
    children.unshift({ id, width: 12, height: 12 })
    const eid = `init:${parentPath}`
    edges.push({ id: eid, sources: [id], targets: [stateId(initial)] })
    edgeInfo.set(eid, { transition: -1, kind: 'initial' })
  }

  const toNode = (s: StateInfo, parallelParent: boolean): ElkNode => {
    const lines = internal.get(s.path) ?? []
    const labelWidth = (s.label ?? s.key).length * CHAR + 24
    if (!s.states?.length) {
      const width = Math.max(84, labelWidth, ...lines.map(([, t]) => t.length * SMALL_CHAR + 16))
      return { id: stateId(s.path), width, height: 32 + lines.length * LINE + (lines.length ? 4 : 0) }
    }
    const children = s.states.map((c) => toNode(c, s.type === 'parallel'))
    if (s.type !== 'parallel') initialMarker(s.path, s.initial, children)
    const top = 30 + lines.length * LINE
    return {
      id: stateId(s.path),
      children,
      layoutOptions: {
        'elk.padding': `[top=${top},left=14,bottom=14,right=14]`,
        'elk.nodeSize.constraints': 'MINIMUM_SIZE',
        'elk.nodeSize.minimum': `(${Math.max(labelWidth, ...lines.map(([, t]) => t.length * SMALL_CHAR + 20))}, ${top + 20})`,
        // Regions of a parallel state side by side, their states left to right.
        ...(s.type === 'parallel' ? { 'elk.direction': 'DOWN' } : {}),
        ...(parallelParent ? {} : {}),
      },
    }
  }

  const children: ElkNode[] = chart.states.map((s) => toNode(s, false))
  initialMarker('', chart.initial ?? undefined, children)
  if (anyNode) children.push({ id: 'any', width: 70, height: 26 })

  const graph: ElkNode = {
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.edgeRouting': 'SPLINES',
      'elk.layered.spacing.nodeNodeBetweenLayers': '56',
      'elk.spacing.nodeNode': '28',
      'elk.spacing.edgeLabel': '4',
      'elk.layered.spacing.edgeNodeBetweenLayers': '16',
      'elk.edgeLabels.placement': 'CENTER',
      'elk.padding': '[top=12,left=12,bottom=12,right=12]',
      'elk.json.edgeCoords': 'ROOT',
      'elk.json.shapeCoords': 'ROOT',
    },
    children,
    edges,
  }
  const laid = await (await elkInstance()).layout(graph)

  const paths = new Map<string, StateInfo & { region: boolean; depth: number }>()
  const index = (states: StateInfo[], depth: number, parallel: boolean) => {
    for (const s of states) {
      paths.set(stateId(s.path), { ...s, region: parallel, depth })
      if (s.states) index(s.states, depth + 1, s.type === 'parallel')
    }
  }
  index(chart.states, 0, false)

  const nodes: NodeBox[] = []
  const walk = (n: ElkNode, depth: number) => {
    for (const c of n.children ?? []) {
      const info = paths.get(c.id)
      const box = { x: c.x ?? 0, y: c.y ?? 0, width: c.width ?? 0, height: c.height ?? 0 }
      if (info) {
        nodes.push({ id: c.id, path: info.path, key: info.key, label: info.label ?? info.key, kind: 'state', type: info.type, ...box, internal: internal.get(info.path) ?? [], depth, region: info.region })
      } else if (c.id === 'any') {
        nodes.push({ id: c.id, path: '', key: 'any state', label: 'any state', kind: 'any', type: 'any', ...box, internal: [], depth, region: false })
      } else {
        nodes.push({ id: c.id, path: '', key: '', label: '', kind: 'initial', type: 'initial', ...box, internal: [], depth, region: false })
      }
      walk(c, depth + 1)
    }
  }
  walk(laid, 0)

  const lines: EdgeLine[] = []
  const collectEdges = (n: ElkNode) => {
    for (const e of (n.edges ?? []) as ElkExtendedEdge[]) {
      const info = edgeInfo.get(e.id)
      const section = e.sections?.[0]
      if (!info || !section) continue
      const points = [section.startPoint, ...(section.bendPoints ?? []), section.endPoint]
      const l = e.labels?.[0]
      lines.push({
        id: e.id,
        transition: info.transition,
        points,
        kind: info.kind,
        label: l && info.text ? { text: info.text, x: l.x ?? 0, y: l.y ?? 0, width: l.width ?? 0, height: l.height ?? 0 } : undefined,
      })
    }
    for (const c of n.children ?? []) collectEdges(c)
  }
  collectEdges(laid)
  return { width: laid.width ?? 0, height: laid.height ?? 0, nodes, edges: lines, rootInternal }
}

const cache = new Map<StateChart, Promise<ChartLayout>>()
export function cachedLayout(chart: StateChart): Promise<ChartLayout> {
  let p = cache.get(chart)
  if (!p) {
    p = layoutChart(chart)
    cache.set(chart, p)
  }
  return p
}
