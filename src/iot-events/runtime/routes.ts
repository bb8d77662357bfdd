import type { TopicInputDeclaration } from '../../definitions/topicInputs.ts'
import type { EventOutput } from '../../definitions/outputs.ts'
import { NO_KEY_ID } from './keys.ts'

/** Where an input's messages come from: the generated definition exports one per input (`inputs`). */
export interface InputRoute {
  /** the IoT Events input name */
  input: string
  /** the twin's device event for it */
  event: string
  /** MQTT topic filter its messages arrive on */
  topic: string
  /** payload path of the detector key; absent: one twin for the model */
  keyPath?: string
}

/** Default MQTT topic of an input: one topic per input, as an AWS IoT rule forwarded one topic to one input. */
export const defaultInputTopic = (input: string): string => `iotevents/inputs/${input}`

/**
 * A model's input routes as the engine's input topics (ADR 0021): each
 * message on the topic (or sent to the input by name: `POST /inputs/messages`,
 * another model's `iotEvents` action) reaches the twin named by the key in
 * the payload, as `{ message: <the JSON text>, messageId? }` so that `20.0`
 * stays a decimal. No key: the one twin `detector`.
 */
export function inputTopics(modelName: string, routes: readonly InputRoute[]): TopicInputDeclaration[] {
  return routes.map((r) => ({
    name: r.input,
    topic: r.topic,
    event: r.event,
    ...(r.keyPath !== undefined ? { keyPath: r.keyPath } : { id: NO_KEY_ID }),
    as: 'message' as const,
    label: `detector model ${modelName}, input ${r.input}`,
  }))
}

/**
 * The actions the engine delivers itself (ADR 0021): `iotTopicPublish`
 * publishes its payload to its `mqttTopic`; `iotEvents` feeds its payload to
 * the input `inputName`. Both stay derived events too; the other actions
 * (sns, lambda, …) are derived events for webhooks.
 */
export const DETECTOR_OUTPUTS: Readonly<Record<string, EventOutput>> = Object.freeze({
  iotTopicPublish: { publish: { topic: 'mqttTopic', payload: 'payload' } },
  iotEvents: { input: { name: 'inputName', payload: 'payload' } },
})
