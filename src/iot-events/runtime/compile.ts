import type { Expr } from '../expression/ast.ts'
import { parseExpression } from '../expression/parse.ts'
import { actionKind, topicIsExpression, type Action, type DetectorModel, type EffectKind, type Event, type Payload } from '../model/types.ts'
import { detectorNames, type DetectorNames } from './names.ts'

/**
 * A detector model with every expression parsed once: what a pass runs.
 * Paths (`segments`) locate each expression in the normalised model, so the
 * importer can report a refused one at its JSON path.
 */
export interface CompiledModel {
  model: DetectorModel
  names: DetectorNames
  states: Map<string, CompiledState>
  serial: boolean
}

export interface CompiledState {
  name: string
  onEnter: CompiledEvent[]
  events: CompiledEvent[]
  transitions: CompiledTransition[]
  onExit: CompiledEvent[]
}

export interface CompiledEvent {
  name: string
  /** null: no condition (= true) */
  condition: Expr | null
  actions: CompiledAction[]
}

export interface CompiledTransition extends CompiledEvent {
  next: string
  /** the XState guard that takes it */
  guard: string
}

export type CompiledAction =
  | { kind: 'setVariable'; name: string; value: Expr }
  | { kind: 'setTimer'; name: string; seconds: number | null; duration: Expr | null }
  | { kind: 'resetTimer' | 'clearTimer'; name: string }
  | { kind: EffectKind; eventName: string; literal: Record<string, unknown>; exprs: Array<[path: string[], expr: Expr]>; payload: { content: Expr; type: Payload['type'] } | null }

/** Parses one expression; the importer passes a parser that reports where the expression is. */
export type ExpressionParser = (text: string, segments: Array<string | number>) => Expr

const plainParser: ExpressionParser = (text) => parseExpression(text)

export function compileModel(model: DetectorModel, parse: ExpressionParser = plainParser): CompiledModel {
  const names = detectorNames(model)
  const states = new Map<string, CompiledState>()
  model.detectorModelDefinition.states.forEach((s, i) => {
    const at = ['detectorModelDefinition', 'states', i]
    const group = (events: Event[] | undefined, where: Array<string | number>) => (events ?? []).map((e, j) => compileEvent(e, [...at, ...where, j], parse))
    states.set(s.stateName, {
      name: s.stateName,
      onEnter: group(s.onEnter?.events, ['onEnter', 'events']),
      events: group(s.onInput?.events, ['onInput', 'events']),
      transitions: (s.onInput?.transitionEvents ?? []).map((t, j) => ({
        ...compileEvent(t, [...at, 'onInput', 'transitionEvents', j], parse),
        next: t.nextState,
        guard: names.guards[s.stateName]![j]!,
      })),
      onExit: group(s.onExit?.events, ['onExit', 'events']),
    })
  })
  return { model, names, states, serial: model.evaluationMethod === 'SERIAL' }
}

function compileEvent(event: Event, at: Array<string | number>, parse: ExpressionParser): CompiledEvent {
  return {
    name: event.eventName,
    condition: event.condition === undefined ? null : parse(event.condition, [...at, 'condition']),
    actions: (event.actions ?? []).map((a, k) => compileAction(a, event.eventName, [...at, 'actions', k], parse)),
  }
}

/** Fields of the effect actions that are expressions (SEMANTICS.md §3); the others are copied as written. */
const EXPRESSION_FIELDS: Partial<Record<EffectKind, readonly string[]>> = {
  dynamoDB: ['tableName', 'hashKeyField', 'hashKeyValue', 'hashKeyType', 'rangeKeyField', 'rangeKeyValue', 'rangeKeyType', 'operation', 'payloadField'],
  dynamoDBv2: ['tableName'],
}

function compileAction(action: Action, eventName: string, at: Array<string | number>, parse: ExpressionParser): CompiledAction {
  const kind = actionKind(action)
  const at1 = [...at, kind]
  switch (kind) {
    case 'setVariable': {
      const a = (action as Extract<Action, { setVariable: unknown }>).setVariable
      return { kind, name: a.variableName, value: parse(a.value, [...at1, 'value']) }
    }
    case 'setTimer': {
      const a = (action as Extract<Action, { setTimer: unknown }>).setTimer
      return { kind, name: a.timerName, seconds: a.seconds ?? null, duration: a.durationExpression === undefined ? null : parse(a.durationExpression, [...at1, 'durationExpression']) }
    }
    case 'resetTimer':
    case 'clearTimer':
      return { kind, name: (action as { [k: string]: { timerName: string } })[kind]!.timerName }
    default: {
      const body = (action as unknown as Record<string, Record<string, unknown>>)[kind]!
      const literal: Record<string, unknown> = {}
      const exprs: Array<[string[], Expr]> = []
      const exprFields = new Set(EXPRESSION_FIELDS[kind] ?? [])
      for (const [field, value] of Object.entries(body)) {
        if (field === 'payload') continue
        if (kind === 'iotSiteWise') collectSiteWise(value, [field], at1, exprs, literal, parse)
        else if (exprFields.has(field) || (kind === 'iotTopicPublish' && field === 'mqttTopic' && topicIsExpression(String(value)))) exprs.push([[field], parse(String(value), [...at1, field])])
        else literal[field] = value
      }
      const payload = body.payload as Payload | undefined
      return { kind, eventName, literal, exprs, payload: payload ? { content: parse(payload.contentExpression, [...at1, 'payload', 'contentExpression']), type: payload.type } : null }
    }
  }
}

/** Every leaf of an iotSiteWise action is an expression, nested objects included. */
function collectSiteWise(value: unknown, path: string[], at: Array<string | number>, exprs: Array<[string[], Expr]>, literal: Record<string, unknown>, parse: ExpressionParser): void {
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) collectSiteWise(v, [...path, k], at, exprs, literal, parse)
  } else {
    exprs.push([path, parse(String(value), [...at, ...path])])
  }
}
