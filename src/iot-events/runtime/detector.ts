import { enqueueActions, type EventObject } from 'xstate'
import type { JsonSchema } from '../../definitions/schema.ts'
import { TwinError } from '../../errors.ts'
import type { DetectorModel } from '../model/types.ts'
import { compileModel, type CompiledModel } from './compile.ts'
import { initialContext, type DetectorContext } from './context.ts'
import { keyOfTwinId } from './keys.ts'
import { TIMER_EVENT, runPass, timerId, type PassResult, type Trigger } from './pass.ts'
import { DETECTOR_OUTPUTS, inputTopics, type InputRoute } from './routes.ts'

/** A message on an input, as the twin receives it: the message's JSON text (or object) and its id. */
export interface InputEvent extends EventObject {
  at: number
  /** the message as received: its JSON text keeps integers and decimals apart (`20` vs `20.0`); an object is accepted too */
  message: string | Record<string, unknown>
  /** BatchPutMessage's messageId, shown in default payloads */
  messageId?: string
}

export interface TimerEvent extends EventObject {
  type: typeof TIMER_EVENT
  at: number
  timer: string
}

export type DetectorEvent = InputEvent | TimerEvent

/**
 * The payload schema of every input event. Permissive on purpose: IoT Events
 * never checked attribute types (A5), it evaluated mismatches.
 */
export const INPUT_EVENT_SCHEMA: JsonSchema = {
  properties: {
    message: { anyOf: [{ type: 'string', maxLength: 1_048_576 }, { type: 'object' }] },
    messageId: { type: 'string', minLength: 1, maxLength: 128 },
  },
  required: ['message'],
  additionalProperties: false,
}

export interface DetectorOptions {
  /** the twin definition's version */
  version: number
  /** AWS's UpdateDetectorModel reset: every detector starts over on its first message after a new version. Default false. */
  resetOnUpdate?: boolean
}

/**
 * The parts of a twin definition that run an IoT Events detector model:
 * device event schemas, the initial context, one guard per transition event
 * and the `pass` action. A generated definition wires them into a machine
 * with one XState state per IoT Events state:
 *
 *   on: { '*': { actions: 'pass' } }                       // root: nothing taken, the state stays
 *   states: { Normal: { on: { '*': [{ guard: 'Overpressurized', target: 'Dangerous', actions: 'pass' }] } } }
 *
 * Every guard and the action ask the same pure pass (computed once per event,
 * memoised on the event object); the pass decides, XState moves.
 */
export function detector(model: DetectorModel, options: DetectorOptions) {
  const compiled = compileModel(model)
  const passOptions = { version: options.version, resetOnUpdate: options.resetOnUpdate ?? false }
  const memo = new WeakMap<object, { context: DetectorContext; result: PassResult }>()
  const run = (context: DetectorContext, event: DetectorEvent): PassResult => {
    const hit = memo.get(event)
    if (hit && hit.context === context) return hit.result
    const result = runPass(compiled, context, triggerOf(compiled, event), event.at, passOptions)
    memo.set(event, { context, result })
    return result
  }
  const guards: Record<string, (args: { context: DetectorContext; event: DetectorEvent }) => boolean> = {}
  for (const names of Object.values(compiled.names.guards)) {
    for (const name of names) guards[name] = ({ context, event }) => run(context, event).take === name
  }
  for (const name of Object.values(compiled.names.resetGuards)) guards[name] = ({ context, event }) => run(context, event).take === name

  const pass = enqueueActions(({ context, event, enqueue }: { context: DetectorContext; event: DetectorEvent; enqueue: any }) => {
    const result = run(context, event)
    if (result.context === context) return
    enqueue.assign(result.context)
    for (const effect of result.effects) {
      if (effect.kind === 'emit') enqueue.emit(effect.event)
      else if (effect.kind === 'arm') enqueue.raise({ type: TIMER_EVENT, timer: effect.timer }, { id: timerId(effect.timer), delay: effect.delayMs })
      else enqueue.cancel(timerId(effect.timer))
    }
  })

  const events: Record<string, JsonSchema> = {}
  for (const input of model.inputs) events[compiled.names.inputEvents[input.inputName]!] = INPUT_EVENT_SCHEMA
  const initial = model.detectorModelDefinition.initialStateName
  return {
    compiled,
    names: compiled.names,
    events,
    guards,
    /** the one action: runs the pass, assigns the context, emits, arms and cancels timers in AWS's order */
    pass: pass as any,
    /** the definition's `inputs`: each route as an input topic keyed by the model's key (ADR 0021) */
    inputs: (routes: readonly InputRoute[]) => inputTopics(model.detectorModelName, routes),
    /** the definition's `outputs`: iotTopicPublish to its topic, iotEvents to its input */
    outputs: DETECTOR_OUTPUTS,
    context: ({ input }: { input: { type: string; id: string } }): DetectorContext =>
      initialContext(model.key === undefined ? null : keyOfTwinId(input.id), initial, options.version),
  }
}

export type Detector = ReturnType<typeof detector>

function triggerOf(compiled: CompiledModel, event: DetectorEvent): Trigger {
  if (event.type === TIMER_EVENT) return { kind: 'timer', timer: (event as TimerEvent).timer }
  const input = compiled.names.eventInputs[event.type]
  if (input === undefined) {
    throw new TwinError('TWIN_ERR_INPUT_UNKNOWN', `"${event.type}" is not an input of detector model ${compiled.model.detectorModelName}: send one of ${Object.keys(compiled.names.eventInputs).join(', ')}`)
  }
  const { message, messageId } = event as InputEvent
  return { kind: 'message', input, message, ...(messageId !== undefined ? { messageId } : {}) }
}
