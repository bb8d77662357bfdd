import { Validator } from '@cfworker/json-schema'
import { useMemo, useState } from 'preact/hooks'
import { api, ApiError, seg } from '../api.ts'
import type { TwinType } from '../model.ts'

/** Every twin type accepts these without declaring them (docs/protocol.md). */
const BUILT_IN: Record<string, Record<string, unknown>> = {
  attributes: { additionalProperties: { type: ['string', 'null'] } },
}

/** Parses and checks a payload against the event's JSON Schema; returns the payload or the problems. */
export function checkPayload(text: string, schema: Record<string, unknown> | undefined): { payload: Record<string, unknown> } | { problems: string[] } {
  let payload: unknown
  try {
    payload = text.trim() ? JSON.parse(text) : {}
  } catch (err) {
    return { problems: [`not JSON: ${(err as Error).message}`] }
  }
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) return { problems: ['the payload must be a JSON object'] }
  if (schema) {
    // @cfworker/json-schema interprets schemas without code generation, so it runs under the console's CSP (no eval).
    const result = new Validator({ type: 'object', ...schema } as never, '7', false).validate(payload)
    if (!result.valid) return { problems: result.errors.filter((e) => e.keyword !== 'properties').map((e) => `${e.instanceLocation.replace(/^#/, '') || '(payload)'}: ${e.error}`) }
  }
  return { payload: payload as Record<string, unknown> }
}

/** Send a twin an event (as its device would) or a command (to its device, through the twin). */
export function SendPanel({ type, id }: { type: TwinType; id: string }) {
  const events = useMemo(() => ({ ...type.events, ...BUILT_IN }), [type])
  const names = Object.keys(events)
  const [event, setEvent] = useState(names[0] ?? '')
  const [payload, setPayload] = useState('{}')
  const [command, setCommand] = useState('')
  const [commandPayload, setCommandPayload] = useState('{}')
  const [timeoutMs, setTimeoutMs] = useState('30000')
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null)
  const [busy, setBusy] = useState(false)

  const send = async (e: Event) => {
    e.preventDefault()
    const checked = checkPayload(payload, events[event])
    if ('problems' in checked) return setResult({ ok: false, text: `Not sent: ${checked.problems.join('; ')}` })
    setBusy(true)
    try {
      const r = await api<{ entryId: string; shard: number }>(`twins/${seg(type.type)}/${seg(id)}/events`, { method: 'POST', body: { event, payload: checked.payload } })
      setResult({ ok: true, text: `Accepted: “${event}” is in shard ${r.shard}'s inbox (${r.entryId}).` })
    } catch (err) {
      const x = err as ApiError
      setResult({ ok: false, text: `Refused (${x.code}): ${x.message}` })
    } finally {
      setBusy(false)
    }
  }

  const sendCommand = async (e: Event) => {
    e.preventDefault()
    const checked = checkPayload(commandPayload, undefined)
    if ('problems' in checked) return setResult({ ok: false, text: `Not sent: ${checked.problems.join('; ')}` })
    const timeout = Number(timeoutMs)
    setBusy(true)
    try {
      const r = await api<{ commandId: string }>(`twins/${seg(type.type)}/${seg(id)}/commands`, {
        method: 'POST',
        body: { name: command.trim(), payload: checked.payload, ...(Number.isFinite(timeout) && timeoutMs ? { timeoutMs: timeout } : {}) },
      })
      setResult({ ok: true, text: `Command “${command.trim()}” accepted (${r.commandId}); its status shows under Commands.` })
    } catch (err) {
      const x = err as ApiError
      setResult({ ok: false, text: `Refused (${x.code}): ${x.message}` })
    } finally {
      setBusy(false)
    }
  }

  const schema = events[event]
  return (
    <div class="send-panel" data-testid="send-panel">
      <form onSubmit={send} class="send-event">
        <h2>Send an event</h2>
        <label>Event
          <select name="event" value={event} onChange={(e) => setEvent((e.target as HTMLSelectElement).value)}>
            {names.map((n) => <option key={n} value={n}>{n}</option>)}
          </select>
        </label>
        <label>Payload (JSON)
          <textarea name="payload" rows={3} spellcheck={false} value={payload} onInput={(e) => setPayload((e.target as HTMLTextAreaElement).value)} />
        </label>
        {schema && <details><summary>Schema of “{event}”</summary><pre class="json">{JSON.stringify(schema, null, 2)}</pre></details>}
        <button type="submit" disabled={busy || !event}>Send event</button>
      </form>
      <form onSubmit={sendCommand} class="send-command">
        <h2>Send a command</h2>
        <label>Name <input name="command" value={command} placeholder="reboot" onInput={(e) => setCommand((e.target as HTMLInputElement).value)} /></label>
        <label>Payload (JSON)
          <textarea name="command-payload" rows={3} spellcheck={false} value={commandPayload} onInput={(e) => setCommandPayload((e.target as HTMLTextAreaElement).value)} />
        </label>
        <label>Timeout (ms) <input name="timeout" value={timeoutMs} inputMode="numeric" onInput={(e) => setTimeoutMs((e.target as HTMLInputElement).value)} /></label>
        <button type="submit" disabled={busy || !command.trim()}>Send command</button>
      </form>
      {result && <p class={result.ok ? 'ok' : 'error'} role="status" data-testid="send-result">{result.text}</p>}
    </div>
  )
}
