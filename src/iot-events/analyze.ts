import { walk, type Expr } from './expression/ast.ts'
import { parseExpression } from './expression/parse.ts'
import { declares, inputUses } from './model/inputs.ts'
import type { Issue } from './model/issues.ts'
import { TIMER_ACCURATE_SECONDS, actionKind, topicIsExpression, type DetectorModel, type Event } from './model/types.ts'

/** Locates an expression or field of the normalised model in the user's file. */
export type Locate = (segments: Array<string | number>) => { file: string; path: string }

/** A parsed expression of the model with where it is. */
export interface PlacedExpr {
  expr: Expr
  segments: Array<string | number>
  /** onEnter / onInput / onExit of the state that holds it */
  group: 'onEnter' | 'onInput' | 'onExit'
  role: 'condition' | 'value' | 'duration' | 'field'
  /** for setVariable values: the variable set */
  variable?: string
}

type Type = 'integer' | 'decimal' | 'number' | 'string' | 'boolean' | 'unknown'

/**
 * The checks of AWS's detector model analyzer (StartDetectorModelAnalysis,
 * gone with the service), as warnings with locations: the import refuses only
 * what AWS refused, and those are errors of the reader and parser.
 */
export function analyze(model: DetectorModel, exprs: PlacedExpr[], locate: Locate): Issue[] {
  const issues: Issue[] = []
  const warn = (check: string, segments: Array<string | number>, message: string, at?: number) =>
    issues.push({ severity: 'warning', check, ...locate(segments), ...(at !== undefined ? { at } : {}), message })
  unreachableStates(model, warn)
  timers(model, exprs, warn)
  typeMixes(exprs, warn)
  timerPassReads(model, exprs, warn)
  undeclaredReads(model, exprs, warn)
  logicalOperands(exprs, warn)
  deliveries(model, warn)
  return issues
}

/** The topic an iotTopicPublish names when it is a bare string or a quoted literal; undefined when computed. */
function literalTopic(topic: string): string | undefined {
  if (!topicIsExpression(topic)) return topic
  try {
    const expr = parseExpression(topic)
    return expr.kind === 'string' ? expr.value : undefined
  } catch {
    return undefined
  }
}

/**
 * Actions the engine delivers itself (ADR 0021) that will not go where the
 * model meant: an iotTopicPublish to a literal topic the engine refuses (a
 * `$` topic the broker reserves, one under devices/ or twins/), and an
 * iotEvents that feeds an input the model reads itself (a loop, as on AWS).
 */
function deliveries(model: DetectorModel, warn: Warn): void {
  const reads = new Set(model.inputs.map((i) => i.inputName))
  for (const { action, segments } of actions(model)) {
    const a = action as { iotTopicPublish?: { mqttTopic: string }; iotEvents?: { inputName: string } }
    const topic = a.iotTopicPublish?.mqttTopic === undefined ? undefined : literalTopic(a.iotTopicPublish.mqttTopic)
    if (topic !== undefined && /^(\$|devices\/|twins\/)/.test(topic)) {
      warn('publish-topic', [...segments, 'mqttTopic'], `topic "${topic}" is the broker's or the engine's own: the engine will not publish there (TWIN_ERR_PUBLISH_TOPIC); use a topic of yours`)
    }
    const input = a.iotEvents?.inputName
    if (input !== undefined && reads.has(input)) {
      warn('input-loop', [...segments, 'inputName'], `feeds input ${input}, which this model reads: each message it sends makes another pass, and may send another`)
    }
  }
}

type Warn = (check: string, segments: Array<string | number>, message: string, at?: number) => void

function unreachableStates(model: DetectorModel, warn: Warn): void {
  const states = model.detectorModelDefinition.states
  const reached = new Set([model.detectorModelDefinition.initialStateName])
  const queue = [model.detectorModelDefinition.initialStateName]
  while (queue.length) {
    const name = queue.shift()
    const state = states.find((s) => s.stateName === name)
    for (const t of state?.onInput?.transitionEvents ?? []) {
      if (!reached.has(t.nextState)) {
        reached.add(t.nextState)
        queue.push(t.nextState)
      }
    }
  }
  states.forEach((s, i) => {
    if (!reached.has(s.stateName)) warn('unreachable-state', ['detectorModelDefinition', 'states', i], `state "${s.stateName}" cannot be reached from the initial state "${model.detectorModelDefinition.initialStateName}"`)
  })
}

/** Every action of the model with its JSON path segments. */
function* actions(model: DetectorModel) {
  for (const [i, s] of model.detectorModelDefinition.states.entries()) {
    const groups: Array<[Array<string | number>, Event[]]> = [
      [['onEnter', 'events'], s.onEnter?.events ?? []],
      [['onInput', 'events'], s.onInput?.events ?? []],
      [['onInput', 'transitionEvents'], s.onInput?.transitionEvents ?? []],
      [['onExit', 'events'], s.onExit?.events ?? []],
    ]
    for (const [where, events] of groups) {
      for (const [j, e] of events.entries()) {
        for (const [k, a] of (e.actions ?? []).entries()) yield { action: a, segments: ['detectorModelDefinition', 'states', i, ...where, j, 'actions', k, actionKind(a)] }
      }
    }
  }
}

function timers(model: DetectorModel, exprs: PlacedExpr[], warn: Warn): void {
  const set = new Set<string>()
  for (const { action, segments } of actions(model)) {
    if (!('setTimer' in action)) continue
    set.add(action.setTimer.timerName)
    if (action.setTimer.seconds !== undefined && action.setTimer.seconds < TIMER_ACCURATE_SECONDS) {
      warn('timer-under-60s', [...segments, 'seconds'], `timer "${action.setTimer.timerName}" is set for ${action.setTimer.seconds} s; AWS required at least 60 s "to ensure accuracy" (the engine's timers are exact)`)
    }
  }
  for (const p of exprs.filter((e) => e.role === 'duration')) {
    if ((p.expr.kind === 'int' || p.expr.kind === 'decimal') && Number(p.expr.value) < TIMER_ACCURATE_SECONDS) {
      warn('timer-under-60s', p.segments, `a durationExpression of ${p.expr.value} s is under 60 s: AWS refused it at run time and so does the twin (no timer is set)`)
    }
  }
  for (const { action, segments } of actions(model)) {
    if ('resetTimer' in action && !set.has(action.resetTimer.timerName)) {
      warn('reset-of-unset-timer', segments, `resetTimer "${action.resetTimer.timerName}": no setTimer of this timer exists, so it never runs (A7)`)
    }
  }
  for (const p of exprs) {
    walk(p.expr, (node) => {
      if (node.kind === 'call' && node.name === 'timeout' && node.args[0]?.kind === 'string' && !set.has(node.args[0].value)) {
        warn('timeout-of-unset-timer', p.segments, `timeout("${node.args[0].value}"): no setTimer of this timer exists, so it is always false`, node.start)
      }
    })
  }
}

/** The static type of an expression, as far as literals and operators tell. */
function typeOf(expr: Expr, variables: Map<string, Set<Type>>): Type {
  switch (expr.kind) {
    case 'int':
      return 'integer'
    case 'decimal':
      return 'decimal'
    case 'string':
    case 'template':
      return 'string'
    case 'bool':
      return 'boolean'
    case 'variable': {
      const types = variables.get(expr.name)
      return types && types.size === 1 ? [...types][0]! : 'unknown'
    }
    case 'unary':
      return expr.op === '!' ? 'boolean' : typeOf(expr.operand, variables) === 'integer' ? 'integer' : 'number'
    case 'binary':
      if (['&&', '||', '==', '!=', '<', '<=', '>', '>='].includes(expr.op)) return 'boolean'
      if (expr.op === '+') {
        const l = typeOf(expr.left, variables)
        if (l === 'string') return 'string'
      }
      return 'number'
    case 'call':
      if (expr.name === 'convert' && expr.args[0]?.kind === 'type') return expr.args[0].name === 'String' ? 'string' : expr.args[0].name === 'Boolean' ? 'boolean' : 'decimal'
      if (expr.name.startsWith('bit')) return 'integer'
      return 'boolean'
    default:
      return 'unknown'
  }
}

const family = (t: Type): Type => (t === 'integer' || t === 'decimal' ? 'number' : t)

/** The analyzer's "type mix": a variable set to values of different types, or compared with a literal of another type (the "true" vs true bug). */
function typeMixes(exprs: PlacedExpr[], warn: Warn): void {
  const assigned = new Map<string, Set<Type>>()
  const firstAt = new Map<string, Array<string | number>>()
  for (const p of exprs) {
    if (p.role !== 'value' || !p.variable) continue
    const t = typeOf(p.expr, new Map())
    if (t === 'unknown') continue
    const set = assigned.get(p.variable) ?? new Set<Type>()
    const before = new Set([...set].map(family))
    set.add(t)
    assigned.set(p.variable, set)
    if (!firstAt.has(p.variable)) firstAt.set(p.variable, p.segments)
    else if (!before.has(family(t))) {
      warn('type-mix', p.segments, `$variable.${p.variable} is set to a ${t} here and to a ${[...before].join('/')} elsewhere (${JSON.stringify(firstAt.get(p.variable))}): comparisons with one of them will never match`)
    }
  }
  for (const p of exprs) {
    walk(p.expr, (node) => {
      if (node.kind !== 'binary' || !['==', '!=', '<', '<=', '>', '>='].includes(node.op)) return
      for (const [ref, lit] of [
        [node.left, node.right],
        [node.right, node.left],
      ] as const) {
        if (ref.kind !== 'variable' || !['int', 'decimal', 'string', 'bool', 'template'].includes(lit.kind)) continue
        const types = assigned.get(ref.name)
        const litType = family(typeOf(lit, new Map()))
        if (types && types.size > 0 && ![...types].map(family).includes(litType)) {
          warn('type-mix', p.segments, `$variable.${ref.name} holds ${article([...types].join('/'))}, compared here with ${article(litType)}: no coercion, they are never equal`, ref.start)
        }
      }
    })
  }
}

/**
 * A2: an onInput condition that reads an input is also evaluated when a timer
 * expires, on the last message received. One warning per state, naming its events.
 */
function timerPassReads(model: DetectorModel, exprs: PlacedExpr[], warn: Warn): void {
  const hasTimers = [...actions(model)].some(({ action }) => 'setTimer' in action)
  if (!hasTimers) return
  const byState = new Map<number, { segments: Array<string | number>; events: string[] }>()
  for (const p of exprs) {
    if (p.group !== 'onInput' || p.role !== 'condition' || inputUses(p.expr).reads.length === 0) continue
    let guarded = false
    walk(p.expr, (node) => {
      if (node.kind === 'call' && (node.name === 'currentInput' || (node.name === 'triggerType' && node.args[0]?.kind === 'string' && node.args[0].value.toLowerCase() === 'message'))) guarded = true
    })
    if (guarded) continue
    const stateIndex = p.segments[2] as number
    const state = model.detectorModelDefinition.states[stateIndex]!
    const list = state.onInput?.[p.segments[4] as 'events' | 'transitionEvents'] ?? []
    const entry = byState.get(stateIndex) ?? { segments: p.segments.slice(0, 4), events: [] }
    entry.events.push(list[p.segments[5] as number]!.eventName)
    byState.set(stateIndex, entry)
  }
  for (const [i, { segments, events }] of byState) {
    const state = model.detectorModelDefinition.states[i]!.stateName
    warn('input-read-in-timer-pass', segments, `in state "${state}", ${events.map((e) => JSON.stringify(e)).join(', ')} read input attributes, but a timer expiring also evaluates them, on the last message received (A1, A2): write triggerType("Message") && (…) where they should react to messages only`)
  }
}

function undeclaredReads(model: DetectorModel, exprs: PlacedExpr[], warn: Warn): void {
  for (const p of exprs) {
    for (const use of inputUses(p.expr).reads) {
      const input = model.inputs.find((i) => i.inputName === use.input)
      if (input && !declares(input, use.attribute)) {
        warn('undeclared-attribute', p.segments, `reads $input.${use.input}.${use.attribute}, which input ${use.input} does not declare: IoT Events made it undefined. Declare it in the input (attributes: ${input.attributes.join(', ') || 'none'})`)
      }
    }
  }
}

function logicalOperands(exprs: PlacedExpr[], warn: Warn): void {
  for (const p of exprs) {
    walk(p.expr, (node) => {
      if (node.kind !== 'binary' || (node.op !== '&&' && node.op !== '||')) return
      for (const side of [node.left, node.right]) {
        if (['int', 'decimal', 'string', 'template'].includes(side.kind)) {
          warn('non-boolean-operand', p.segments, `${node.op} with a ${side.kind === 'int' ? 'number' : side.kind} operand: && and || give booleans only (anything but true counts as false), so this is not a "value or default" choice`, side.start)
        }
      }
    })
  }
}

const article = (noun: string): string => `${/^[aeiou]/.test(noun) ? 'an' : 'a'} ${noun}`
