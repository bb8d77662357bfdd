import { TwinError } from '../../errors.ts'
import { pointerEscape, parseTypedJson, storedValue, typedValue, type Value } from '../expression/values.ts'
import type { PathSegment } from '../expression/ast.ts'
import { parseKeyPath } from '../../definitions/topicInputs.ts'

/**
 * A detector instance as a twin's context: what apps read (`variables`,
 * `inputs`, `timers`, `stateName`: `context.variables.x` where IoT Events had
 * `$variable.x`) and the bookkeeping the semantics need (`detector`).
 * Plain JSON, so the engine stores it as any twin's context.
 */
export interface DetectorContext {
  /** the detector's key value (IoT Events' keyValue); null for a model without a key */
  keyValue: string | null
  /** the IoT Events name of the current state (XState keys may differ: see the mapping in the definition) */
  stateName: string
  variables: Record<string, unknown>
  /** the last message of each input (A1), declared attributes only (D3) */
  inputs: Record<string, Record<string, unknown>>
  /** every timer ever set: its due time while running, its last duration (A7) */
  timers: Record<string, { seconds: number; dueAt: number | null }>
  detector: {
    /** evaluation passes run; 0 = the next message creates the detector (A9) */
    passes: number
    /** expired timers whose timeout() has not been read yet (A4) */
    latched: string[]
    /** JSON Pointers (into this context) of integral numbers that are decimals (`20.0`) */
    decimals: string[]
    /** definition version of the last pass (reset on update) */
    version: number
  }
}

export function initialContext(keyValue: string | null, stateName: string, version: number): DetectorContext {
  return { keyValue, stateName, variables: {}, inputs: {}, timers: {}, detector: { passes: 0, latched: [], decimals: [], version } }
}

/** A working copy of a context for one pass, with typed reads and writes. */
export class Draft {
  readonly ctx: DetectorContext
  private readonly decimals: Set<string>

  constructor(context: DetectorContext) {
    this.ctx = structuredClone(context)
    this.decimals = new Set(this.ctx.detector.decimals)
  }

  variable(name: string): Value {
    if (!Object.hasOwn(this.ctx.variables, name)) return undefined
    return typedValue(this.ctx.variables[name], this.decimals.has(`/variables/${pointerEscape(name)}`))
  }

  setVariable(name: string, v: Value): void {
    const { value, decimal } = storedValue(v)
    this.ctx.variables[name] = value
    const pointer = `/variables/${pointerEscape(name)}`
    if (decimal) this.decimals.add(pointer)
    else this.decimals.delete(pointer)
  }

  /** Typed variables for payloads (bigint = integer, number = decimal). */
  typedVariables(): Record<string, Value> {
    const out: Record<string, Value> = {}
    for (const name of Object.keys(this.ctx.variables)) out[name] = this.variable(name)
    return out
  }

  input(input: string, path: readonly PathSegment[]): Value {
    let node: unknown = this.ctx.inputs[input]
    if (node === undefined) return undefined
    let pointer = `/inputs/${pointerEscape(input)}`
    for (const segment of path) {
      if (node === null || typeof node !== 'object') return undefined
      if (typeof segment === 'number' ? !Array.isArray(node) : Array.isArray(node)) return undefined
      if (!Object.hasOwn(node, segment)) return undefined
      node = (node as Record<string | number, unknown>)[segment]
      pointer += `/${pointerEscape(segment)}`
    }
    return typedValue(node, this.decimals.has(pointer))
  }

  /** Stores a message as the input's last message, keeping only the declared attributes (D3). */
  storeMessage(input: string, message: unknown, attributes: readonly string[]): void {
    const typed = typeof message === 'string' ? parseTypedJson(message) : { value: message, decimals: [] }
    if (!typed.value || typeof typed.value !== 'object' || Array.isArray(typed.value)) {
      throw new TwinError('TWIN_ERR_PAYLOAD_NOT_OBJECT', `input ${input}: a message must be a JSON object, as IoT Events inputs are; send an object with the input's attributes`)
    }
    const prefix = `/inputs/${pointerEscape(input)}`
    for (const p of [...this.decimals]) if (p === prefix || p.startsWith(`${prefix}/`)) this.decimals.delete(p)
    const projected: Record<string, unknown> = {}
    const kept: string[] = []
    for (const attribute of attributes) {
      const segments = parseKeyPath(attribute)
      if (!segments) continue
      let node: unknown = typed.value
      for (const s of segments) node = node && typeof node === 'object' && !Array.isArray(node) ? (node as Record<string, unknown>)[s] : undefined
      if (node === undefined) continue
      let into = projected
      for (const s of segments.slice(0, -1)) {
        if (!into[s] || typeof into[s] !== 'object') into[s] = {}
        into = into[s] as Record<string, unknown>
      }
      into[segments.at(-1)!] = node
      kept.push(`/${segments.map(pointerEscape).join('/')}`)
    }
    for (const d of typed.decimals) if (kept.some((k) => d === k || d.startsWith(`${k}/`))) this.decimals.add(prefix + d)
    this.ctx.inputs[input] = projected
  }

  finish(): DetectorContext {
    this.ctx.detector.decimals = [...this.decimals].sort()
    return this.ctx
  }
}

export type Trigger = { kind: 'message'; input: string; message: unknown; messageId?: string } | { kind: 'timer'; timer: string }
