/**
 * `twin-engine/iot-events`: the runtime of twins imported from AWS IoT Events
 * detector models (`twin import iot-events`). A generated definition imports
 * `detector` and wires it into its machine; tests use `iotMessage` to send
 * input messages as devices and BatchPutMessage did.
 */
export { detector, INPUT_EVENT_SCHEMA, type Detector, type DetectorEvent, type DetectorOptions, type InputEvent, type TimerEvent } from './runtime/detector.ts'
export type { DetectorContext } from './runtime/context.ts'
export type { DetectorModel, InputDefinition, State, Event, TransitionEvent, Action, Payload } from './model/types.ts'
export { TIMER_EVENT, timerId } from './runtime/pass.ts'
export { twinIdOfKey, keyOfTwinId, NO_KEY_ID } from './runtime/keys.ts'
export { parseExpression, ExpressionSyntaxError } from './expression/parse.ts'
export { evaluate, evaluateCondition, type Scope } from './expression/evaluate.ts'
export type { Value } from './expression/values.ts'

/**
 * The payload of an input event: the message's JSON text as a device sent it
 * (keeping `20.0` a decimal), or an object, with an optional messageId.
 *
 *   t.send('PressureInput', iotMessage('{"motorid": "m1", "sensorData": {"pressure": 80}}', '00001'))
 */
export function iotMessage(message: string | Record<string, unknown>, messageId?: string): { message: string | Record<string, unknown>; messageId?: string } {
  return messageId === undefined ? { message } : { message, messageId }
}
