import { createHash } from 'node:crypto'
import type { EventObject } from 'xstate'
import { evaluateValue, type Scope } from '../expression/evaluate.ts'
import { typedJson, valueText, type Value } from '../expression/values.ts'
import type { DetectorModel } from '../model/types.ts'
import type { CompiledAction } from './compile.ts'
import type { DetectorContext, Trigger } from './context.ts'

export interface EffectInfo {
  model: DetectorModel
  version: number
  ctx: DetectorContext
  at: number
  trigger: Trigger
  /** index of this action among the effect actions of the pass */
  n: number
}

type EffectAction = Exclude<CompiledAction, { kind: 'setVariable' | 'setTimer' | 'resetTimer' | 'clearTimer' }>

/**
 * An action that leaves the detector (iotTopicPublish, iotEvents, lambda,
 * sns, sqs, firehose, dynamoDB, dynamoDBv2, iotSiteWise) as the derived
 * event the twin emits: named after the action, carrying its target fields
 * (expressions evaluated now) and the rendered payload, the text the target
 * would have received. Without a payload AWS sent its default payload
 * (SEMANTICS.md §7), and so do we. Null when an expression is undefined or
 * invalid (AWS logged an error and did not run the action).
 */
export function renderEffect(action: EffectAction, scope: Scope & { typedVariables(): Record<string, Value> }, info: EffectInfo): EventObject | null {
  const actionExecutionId = uuidV3(`${info.model.detectorModelName}|${info.ctx.keyValue ?? ''}|${info.at}|${info.ctx.detector.passes}|${info.n}`)
  const event: Record<string, unknown> = { type: action.kind, eventName: action.eventName, actionExecutionId, ...structuredClone(action.literal) }
  for (const [path, expr] of action.exprs) {
    const text = valueText(evaluateValue(expr, scope))
    if (text === null) return null
    let into = event
    for (const segment of path.slice(0, -1)) into = (into[segment] ??= {}) as Record<string, unknown>
    into[path.at(-1)!] = text
  }
  if (action.payload) {
    const text = valueText(evaluateValue(action.payload.content, scope))
    if (text === null) return null
    event.payload = text
    event.payloadType = action.payload.type
  } else {
    event.payload = defaultPayload(action.eventName, actionExecutionId, scope.typedVariables(), info)
    event.payloadType = 'JSON'
  }
  return event as EventObject
}

/**
 * AWS's default action payload (SEMANTICS.md §7, the simple example's SNS
 * messages): detector, trigger and the state at the moment the action runs
 * (A8), variables with their JSON types (decimals print `20.0`). Timers are
 * shown as `{ name: { timestamp: due ms } }` (AWS did not publish the format).
 */
export function defaultPayload(eventName: string, actionExecutionId: string, variables: Record<string, Value>, info: EffectInfo): string {
  const { ctx, trigger } = info
  const detector: Record<string, unknown> = { detectorModelName: info.model.detectorModelName }
  if (ctx.keyValue !== null) detector.keyValue = ctx.keyValue
  detector.detectorModelVersion = String(info.version)
  const eventTriggerDetails =
    trigger.kind === 'message'
      ? { inputName: trigger.input, messageId: trigger.messageId ?? uuidV3(`message|${info.model.detectorModelName}|${ctx.keyValue ?? ''}|${info.at}|${ctx.detector.passes}`), triggerType: 'Message' }
      : { timerName: trigger.timer, triggerType: 'Timer' }
  const timers: Record<string, unknown> = {}
  for (const [name, t] of Object.entries(ctx.timers)) if (t.dueAt !== null) timers[name] = { timestamp: BigInt(t.dueAt) }
  return typedJson({
    eventTime: BigInt(info.at),
    payload: { actionExecutionId, detector, eventTriggerDetails, state: { stateName: ctx.stateName, variables, timers } },
    eventName,
  })
}

/** Name-based UUID, version 3 (RFC 4122, MD5): AWS's actionExecutionIds are of this version. */
const NAMESPACE = Buffer.from('6f9619ff8b86d011b42d00c04fc964ff', 'hex')

export function uuidV3(name: string): string {
  const hash = createHash('md5').update(NAMESPACE).update(name).digest()
  hash[6] = (hash[6]! & 0x0f) | 0x30
  hash[8] = (hash[8]! & 0x3f) | 0x80
  const h = hash.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`
}
