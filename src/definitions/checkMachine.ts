import { createActor, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate'
import { COMMAND } from '../model/engineEvents.ts'
import { EVENT_PATTERN } from '../model/ids.ts'

/**
 * Refuses, when a definition loads, what a twin's machine cannot do in the
 * engine, instead of failing on every event later (docs/twins.md, "Fidelity
 * to XState"): invoked or spawned actors, sending to a parent or another
 * actor, emitted event names MQTT or the engine cannot carry, and an initial
 * state that cannot be created (a context factory that throws, run once
 * with a probe input). Returns why, or undefined. Dynamic actions (inside
 * `enqueueActions`, a computed `sendTo` target or emitted event) are checked
 * at each step instead.
 */
export function machineProblem(machine: AnyStateMachine, probeInput: { type: string; id: string }): string | undefined {
  for (const node of stateNodes(machine.root)) {
    if (node.invoke.length) {
      return `state "${node.id}" invokes an actor (${node.invoke.map((i: { src: string }) => i.src).join(', ')}): a twin cannot run child actors; model the work as states with \`after\` timers, or as a twin of its own fed by a rule`
    }
    for (const [where, action] of nodeActions(node)) {
      const why = actionProblem(machine, action)
      if (why) return `state "${node.id}" (${where}): ${why}`
    }
  }
  return probe(machine, probeInput)
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type StateNodeLike = any

function* stateNodes(root: StateNodeLike): Iterable<StateNodeLike> {
  yield root
  for (const child of Object.values(root.states ?? {})) yield* stateNodes(child)
}

/** Every action a state node declares: entry, exit, its initial transition, and those of its transitions (`on`, `after`, `always`). */
function* nodeActions(node: StateNodeLike): Iterable<[string, unknown]> {
  for (const a of node.entry ?? []) yield ['entry', a]
  for (const a of node.exit ?? []) yield ['exit', a]
  if (node.type === 'compound' || node.type === 'parallel') for (const a of node.initial?.actions ?? []) yield ['initial', a]
  for (const [event, transitions] of node.transitions ?? new Map()) {
    for (const t of transitions) for (const a of t.actions ?? []) yield [`on "${event}"`, a]
  }
  for (const t of node.always ?? []) for (const a of t.actions ?? []) yield ['always', a]
}

/** Why an action cannot run in a twin; undefined when it can (or only its step can tell). */
function actionProblem(machine: AnyStateMachine, action: unknown): string | undefined {
  const resolved = resolveAction(machine, action) as { type?: string; to?: unknown; event?: unknown } | undefined
  if (!resolved) return undefined
  switch (resolved.type) {
    case 'xstate.spawnChild':
      return 'spawnChild / spawn: a twin cannot run child actors; model the child as states, or as a twin of its own fed by a rule'
    case 'xstate.sendTo': {
      const to = resolved.to
      if (typeof to === 'function') return undefined // e.g. sendTo(({ self }) => self): checked at the step
      if (to === '#_parent') return 'sendParent: a twin has no parent actor; emit a derived event instead (rules and apps can take it)'
      return `sendTo ${typeof to === 'string' ? `"${to}"` : 'an actor'}: a twin talks to no other actor; emit a derived event (a rule can take it) or sendCommand to a device`
    }
    case 'xstate.emit': {
      const event = resolved.event as { type?: unknown } | undefined
      if (!event || typeof event !== 'object' || event.type === COMMAND) return undefined
      if (typeof event.type !== 'string' || !EVENT_PATTERN.test(event.type)) {
        return `emits ${JSON.stringify(String(event.type).slice(0, 64))}: derived event names must match [A-Za-z][A-Za-z0-9_-]{0,63} (an MQTT topic level; "$…" names are the engine's)`
      }
      return undefined
    }
    default:
      return undefined
  }
}

/** A built-in action as declared inline, by name in `setup({ actions })`, or as `{ type, params }`. */
function resolveAction(machine: AnyStateMachine, action: unknown): unknown {
  if (typeof action === 'function') return action
  const name = typeof action === 'string' ? action : (action as { type?: unknown } | null)?.type
  return typeof name === 'string' ? (machine.implementations.actions as Record<string, unknown>)[name] : undefined
}

/** Creates the initial state once, with a probe input: a context factory or entry action that throws is refused now. */
function probe(machine: AnyStateMachine, input: { type: string; id: string }): string | undefined {
  const self = createActor(machine)
  const scope = { self, defer: () => {}, id: '', logger: () => {}, sessionId: '', stopChild: () => {}, system: self.system, emit: () => {}, actionExecutor: () => {} }
  let snapshot: AnyMachineSnapshot
  try {
    snapshot = machine.getInitialSnapshot(scope as never, input) as AnyMachineSnapshot
  } catch (err) {
    return `creating the initial state throws: ${(err as Error).message}`
  }
  if (snapshot.status === 'error') return `creating the initial state (input ${JSON.stringify(input)}) fails: ${(snapshot.error as Error)?.message ?? String(snapshot.error)}`
  return undefined
}
