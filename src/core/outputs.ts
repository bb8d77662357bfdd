import { deadLetter, type EffectSink } from './stepEffects.ts'
import { resolveInput } from '../definitions/inputMessages.ts'
import { outputRequest, payloadText } from '../definitions/outputs.ts'
import type { TwinRegistry } from '../definitions/registry.ts'
import { TwinError } from '../errors.ts'
import { twinKey } from '../model/ids.ts'
import type { DerivedEvent } from '../model/record.ts'
import { topicNameProblem } from '../model/topicFilters.ts'

/**
 * Largest payload a derived event may feed an input with. Device messages are
 * bounded by MAX_PAYLOAD_BYTES at ingest; this bounds what a machine makes
 * (AWS IoT Events recommended payloads under 1 KB and failed above its limits).
 */
export const OUTPUT_MAX_BYTES = 1024 * 1024

/** Topic prefixes a derived event may not be published to: the engine's own input and output (ADR 0021). */
const ENGINE_PREFIXES = ['devices/', 'twins/']

/**
 * What a step's derived events ask the engine to deliver itself (a
 * definition's `outputs`, ADR 0021), as outbox entries. Pure, like the rest
 * of the step's effects:
 *
 * - `publish`: a `topic` entry the relay publishes QoS 1, once the topic is
 *   checked: a valid MQTT topic name, not `$…` (the broker's), not under
 *   `devices/` or `twins/`, not an input topic or a device topic template
 *   (each would feed ingest: a loop). A refused topic is a dead letter
 *   (TWIN_ERR_PUBLISH_TOPIC); the derived event itself still goes out.
 * - `input`: the payload fed to every twin type taking the named input, as
 *   routed entries (exactly once per target: the relay tags them with their
 *   source, ADR 0009), ids `<derived id>:i<n>`. Targets that cannot take it
 *   (no key at their key path, …) are dead letters, as at ingest.
 */
export function deliverOutputs(sink: EffectSink, registry: TwinRegistry, key: string, events: readonly DerivedEvent[]): void {
  if (events.length === 0) return
  const definition = registry.actor(events[0]!.type)
  if (!definition || !hasAny(definition.outputs)) return
  for (const event of events) {
    const output = definition.outputs[event.name]
    if (!output) continue
    const request = outputRequest(output, event.data)
    if (request.kind === 'publish') publishOutput(sink, registry, key, event, request.topic, payloadText(request.payload))
    else inputOutput(sink, registry, key, event, request.name, payloadText(request.payload))
  }
}

function publishOutput(sink: EffectSink, registry: TwinRegistry, key: string, event: DerivedEvent, topic: unknown, payload: string): void {
  const problem = publishTopicProblem(registry, topic)
  if (problem) {
    deadLetter(sink, 'TWIN_ERR_PUBLISH_TOPIC', `derived event "${event.name}" of ${key} asks to be published to ${shown(topic)}, which ${problem}; the derived event itself was published`, key, event.name, kept(payload))
    return
  }
  sink.outbox.push({ kind: 'topic', id: `${event.id}:t`, key, topic: topic as string, payload, at: event.at })
}

/** Why a derived event may not be published to `topic`, or null. */
export function publishTopicProblem(registry: TwinRegistry, topic: unknown): string | null {
  if (typeof topic !== 'string') return 'is not a string'
  const mqtt = topicNameProblem(topic)
  if (mqtt) return mqtt
  if (topic.startsWith('$')) return 'starts with $ (topics the broker reserves)'
  const prefix = ENGINE_PREFIXES.find((p) => topic.startsWith(p))
  if (prefix) return `is under ${prefix}, where the engine ${prefix === 'devices/' ? 'takes device events and sends commands' : 'publishes derived events'}`
  if (topic.length <= 512 && registry.matchTopic(topic.split('/'))) return 'matches a device topic template: the engine would ingest it again'
  if (registry.inputs.takes(topic)) return 'is an input topic: the engine would ingest it again (feed an input with an `input` output instead)'
  return null
}

function inputOutput(sink: EffectSink, registry: TwinRegistry, key: string, event: DerivedEvent, name: unknown, payload: string): void {
  const targets = typeof name === 'string' ? registry.inputs.named(name) : []
  if (targets.length === 0) {
    deadLetter(sink, 'TWIN_ERR_INPUT_UNKNOWN', `derived event "${event.name}" of ${key} feeds input ${shown(name)}, which no twin type takes`, key, event.name, kept(payload))
    return
  }
  let resolved
  try {
    resolved = resolveInput(targets, payload, { maxBytes: OUTPUT_MAX_BYTES })
  } catch (err) {
    if (!(err instanceof TwinError)) throw err
    deadLetter(sink, err.code, `derived event "${event.name}" of ${key} feeds input ${shown(name)}: ${err.message}`, key, event.name, kept(payload))
    return
  }
  resolved.deliveries.forEach((d, n) => {
    sink.outbox.push({ kind: 'routed', id: `${event.id}:i${n}`, from: key, to: twinKey(d.type, d.id), event: d.event, payload: d.payload, at: event.at })
  })
  for (const r of resolved.refusals) deadLetter(sink, r.error.code, `derived event "${event.name}" of ${key}: ${r.error.message}`, key, r.event, kept(payload))
}

function hasAny(outputs: object): boolean {
  for (const _ in outputs) return true
  return false
}

/** Dead letters keep the start of a payload (as store/deadLetters.ts does at ingest). */
const kept = (payload: string): string => (payload.length > 1024 ? `${payload.slice(0, 1024)}…(${payload.length} characters)` : payload)

const shown = (value: unknown): string => (typeof value === 'string' ? JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}…` : value) : String(value))
