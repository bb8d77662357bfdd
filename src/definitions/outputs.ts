/**
 * Outputs (ADR 0021): derived events the engine delivers itself, besides
 * publishing them as derived events (MQTT `twins/…/events/…`, webhooks, the
 * outbox stream). A definition names, per derived event, the fields that say
 * where to:
 *
 *   outputs: {
 *     alert: { publish: { topic: 'topic', payload: 'body' } },   // MQTT publish of `body` to `topic`
 *     forward: { input: { name: 'input', payload: 'body' } },    // feeds the input named in `input`
 *   }
 *
 * The topic and the input are read from each event, so a machine computes
 * them; the core checks them when the event is emitted (src/core/outputs.ts).
 */
export type EventOutput = { publish: { topic: string; payload: string } } | { input: { name: string; payload: string } }

const FIELD = /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/

/** Checks a definition's `outputs`; `fail` throws the definition error. */
export function checkOutputs(outputs: unknown, fail: (why: string) => never): Readonly<Record<string, EventOutput>> {
  if (outputs === null || typeof outputs !== 'object' || Array.isArray(outputs)) fail('outputs must map derived event names to { publish } or { input }')
  for (const [name, output] of Object.entries(outputs as Record<string, unknown>)) {
    const o = output as Partial<Record<'publish' | 'input', Record<string, unknown>>> | null
    const kinds = o && typeof o === 'object' ? Object.keys(o) : []
    if (kinds.length !== 1 || (kinds[0] !== 'publish' && kinds[0] !== 'input')) fail(`output "${name}" must be { publish: { topic, payload } } or { input: { name, payload } }`)
    const fields = kinds[0] === 'publish' ? ['topic', 'payload'] : ['name', 'payload']
    const spec = o![kinds[0] as 'publish' | 'input']
    for (const field of fields) {
      if (!spec || typeof spec[field] !== 'string' || !FIELD.test(spec[field] as string)) fail(`output "${name}": ${kinds[0]}.${field} must name a field of the derived event`)
    }
  }
  return Object.freeze({ ...(outputs as Record<string, EventOutput>) })
}

/** What a derived event's output asks: its topic or input name and its payload, as the event carries them. */
export type OutputRequest = { kind: 'publish'; topic: unknown; payload: unknown } | { kind: 'input'; name: unknown; payload: unknown }

export function outputRequest(output: EventOutput, data: Record<string, unknown>): OutputRequest {
  if ('publish' in output) return { kind: 'publish', topic: data[output.publish.topic], payload: data[output.publish.payload] }
  return { kind: 'input', name: data[output.input.name], payload: data[output.input.payload] }
}

/** A payload as the bytes to send: a string as is, anything else as JSON (absent: empty). */
export function payloadText(payload: unknown): string {
  if (payload === undefined) return ''
  return typeof payload === 'string' ? payload : JSON.stringify(payload)
}
