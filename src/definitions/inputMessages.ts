import type { TwinDefinition } from './defineTwin.ts'
import { valueAt, type TopicInput } from './topicInputs.ts'
import { parsePayload, validateEvent } from './validate.ts'
import { TwinError } from '../errors.ts'
import { twinIdOfKey } from '../model/keyIds.ts'

/**
 * What one message on an input (ADR 0021) becomes for each twin type taking
 * it, decided purely: ingest (MQTT and `POST /inputs/messages`) and the core
 * (derived events feeding an input) all call `resolveInput`.
 */

/** One twin type taking an input: its definition and its declaration. */
export interface InputTarget {
  definition: TwinDefinition
  input: TopicInput
}

/** An inbox entry one message makes for one target. */
export interface InputDelivery {
  type: string
  id: string
  event: string
  /** the event's payload JSON */
  payload: string
}

/** A target that cannot take the message: the error names it. */
export interface InputRefusal {
  type: string
  event: string
  error: TwinError
}

export interface ResolvedInput {
  deliveries: InputDelivery[]
  refusals: InputRefusal[]
}

/**
 * What one message on an input becomes for each twin type taking it: an
 * inbox entry per target, in target order, or a refusal per target that
 * cannot take it (no value at its key path: TWIN_ERR_INPUT_KEY_MISSING; a key
 * no id can carry: TWIN_ERR_INVALID_ID; a payload its event refuses). A
 * message that is not a JSON object, or too large, is refused for all:
 * that throws the TwinError. Attribute types are never checked beyond the
 * event's schema. Pure.
 */
export function resolveInput(targets: readonly InputTarget[], text: string, options: { maxBytes: number; messageId?: string }): ResolvedInput {
  const body = parsePayload(text, options.maxBytes)
  const out: ResolvedInput = { deliveries: [], refusals: [] }
  for (const { definition, input } of targets) {
    try {
      const id = targetId(input, body)
      const eventBody = input.as === 'message' ? messageBody(text, options.messageId) : body
      validateEvent(definition, id, input.event, eventBody)
      out.deliveries.push({ type: definition.type, id, event: input.event, payload: input.as === 'message' ? JSON.stringify(eventBody) : text.length ? text : '{}' })
    } catch (err) {
      if (!(err instanceof TwinError)) throw err
      out.refusals.push({ type: definition.type, event: input.event, error: err })
    }
  }
  return out
}

function targetId(input: TopicInput, body: Record<string, unknown>): string {
  if (!input.keyPath) return input.id
  const value = valueAt(body, input.keyPath)
  if (value === undefined) {
    throw new TwinError('TWIN_ERR_INPUT_KEY_MISSING', `${input.label}: the message has no value at ${input.keyPathText}, the key path naming its twin`, { path: input.keyPathText })
  }
  try {
    return twinIdOfKey(value)
  } catch (err) {
    throw new TwinError('TWIN_ERR_INVALID_ID', `${input.label}: the value at ${input.keyPathText} cannot name a twin: ${(err as Error).message}`, { path: input.keyPathText })
  }
}

function messageBody(text: string, messageId: string | undefined): Record<string, unknown> {
  return messageId === undefined ? { message: text } : { message: text, messageId }
}
