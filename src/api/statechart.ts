import type { AnyStateMachine } from 'xstate'

/**
 * A twin type's statechart as plain JSON, for tools that draw it
 * (`GET /twin-types`). Derived from the XState v5 machine's state node tree
 * (`machine.root`: `.states`, `.transitions`, `.after`), so it is always the
 * machine the engine runs. Paths are dot-separated from the root
 * (`moving`, `normal.moving`); the root's own path is ``.
 */
export interface StateChart {
  initial: string | null
  states: StateInfo[]
  transitions: TransitionInfo[]
  /** named delays (ms); null when the delay is computed by a function */
  delays: Record<string, number | null>
}

export interface StateInfo {
  key: string
  path: string
  type: string
  /** compound states: the initial child's path */
  initial?: string
  states?: StateInfo[]
  /**
   * the state's display name, when its key is not the name to show
   * (`meta: { label }` on the state node; twins imported from AWS IoT Events
   * label states whose names XState cannot use as keys)
   */
  label?: string
}

export interface TransitionInfo {
  /** path of the state that declares it ('' for the root) */
  source: string
  /**
   * the event type; for delayed transitions the engine's internal
   * `xstate.after…` name; `''` for eventless (`always`) transitions, as XState
   * itself names them (no event can have an empty type)
   */
  event: string
  /** target state paths; empty for a transition that stays (actions only) */
  targets: string[]
  guard?: string
  actions: string[]
  /** delayed (`after`) transitions: the delay's name or ms */
  after?: string | number
  /** eventless (`always`) transitions: taken as soon as their guard holds */
  always?: true
}

interface Node {
  key: string
  path: string[]
  type: string
  states: Record<string, Node>
  initial?: { target?: Node[] }
  transitions: Map<string, Array<{ target?: Node[]; guard?: unknown; actions?: unknown[] }>>
  after: Array<{ delay: string | number; eventType: string }>
  /** eventless transitions; XState 5 keeps them apart from `transitions` */
  always?: Array<{ target?: Node[]; guard?: unknown; actions?: unknown[] }>
  meta?: { label?: unknown }
}

const pathOf = (node: Node) => node.path.join('.')

function nameOf(item: unknown): string {
  if (typeof item === 'string') return item
  if (typeof item === 'function') return item.name || 'inline'
  if (item && typeof item === 'object' && typeof (item as { type?: unknown }).type === 'string') return (item as { type: string }).type
  return 'inline'
}

export function statechartOf(machine: AnyStateMachine): StateChart {
  const root = machine.root as unknown as Node
  const transitions: TransitionInfo[] = []
  const visit = (node: Node): StateInfo => {
    const delayed = new Map(node.after.map((a) => [a.eventType, a.delay]))
    const lists: Array<[string, Array<{ target?: Node[]; guard?: unknown; actions?: unknown[] }>]> = [...node.transitions]
    if (node.always?.length) lists.push(['', node.always])
    for (const [event, list] of lists) {
      for (const t of list) {
        const info: TransitionInfo = {
          source: pathOf(node),
          event,
          targets: (t.target ?? []).map(pathOf),
          actions: (t.actions ?? []).map(nameOf),
        }
        if (t.guard !== undefined) info.guard = nameOf(t.guard)
        if (delayed.has(event)) info.after = delayed.get(event)!
        if (event === '') info.always = true
        transitions.push(info)
      }
    }
    const children = Object.values(node.states ?? {})
    const info: StateInfo = { key: node.key, path: pathOf(node), type: node.type }
    const initial = node.initial?.target?.[0]
    if (initial) info.initial = pathOf(initial)
    if (typeof node.meta?.label === 'string') info.label = node.meta.label
    if (children.length) info.states = children.map(visit)
    return info
  }
  const top = visit(root)
  const delays: Record<string, number | null> = {}
  for (const [name, value] of Object.entries((machine.implementations?.delays ?? {}) as Record<string, unknown>)) {
    delays[name] = typeof value === 'number' ? value : null
  }
  return { initial: top.initial ?? null, states: top.states ?? [], transitions, delays }
}

/** JSON Schema of a StateChart, for the OpenAPI document. */
export const statechartSchema = {
  type: 'object',
  properties: {
    initial: { type: ['string', 'null'] },
    states: { type: 'array', items: { type: 'object', additionalProperties: true } },
    transitions: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          source: { type: 'string' },
          event: { type: 'string' },
          targets: { type: 'array', items: { type: 'string' } },
          guard: { type: 'string' },
          actions: { type: 'array', items: { type: 'string' } },
          after: { type: ['string', 'number'] },
          always: { type: 'boolean' },
        },
      },
    },
    delays: { type: 'object', additionalProperties: { type: ['number', 'null'] } },
  },
} as const
