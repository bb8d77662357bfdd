import { parse as parseLossless } from 'lossless-json'

/**
 * Values of the AWS IoT Events expression language (SEMANTICS.md §4):
 * integer -> bigint, decimal -> number, string, boolean, JSON null, and
 * `undefined` for IoT Events' "undefined" (unset variable, absent attribute,
 * input never received). Keeping integers as bigint makes the integer/decimal
 * distinction a `typeof` test and integer arithmetic exact.
 */
export type Value = bigint | number | string | boolean | null | undefined

/**
 * Thrown when an expression is invalid at run time (a failed `convert`, a
 * division by zero): "the expression that it's a part of is also invalid",
 * which a condition reads as false and a setVariable as "skip".
 */
export class InvalidExpression extends Error {
  constructor(why: string) {
    super(why)
    this.name = 'InvalidExpression'
  }
}

export const isInt = (v: Value): v is bigint => typeof v === 'bigint'
export const isDecimal = (v: Value): v is number => typeof v === 'number'
export const isNumber = (v: Value): v is bigint | number => typeof v === 'bigint' || typeof v === 'number'

/** A decimal as AWS printed it: `20.0`, not `20` (SEMANTICS.md §4: the lexeme is kept). */
export function decimalText(n: number): string {
  if (!Number.isFinite(n)) return String(n)
  const text = String(n)
  return Number.isInteger(n) && !/[eE]/.test(text) ? `${text}.0` : text
}

/** A value as `${…}` substitution and string payloads render it. Undefined has no text (null is returned). */
export function valueText(v: Value): string | null {
  switch (typeof v) {
    case 'string':
      return v
    case 'bigint':
      return v.toString()
    case 'number':
      return decimalText(v)
    case 'boolean':
      return v ? 'true' : 'false'
    default:
      return v === null ? 'null' : null
  }
}

/**
 * JSON text of a payload tree whose numbers are typed: bigint prints as an
 * integer, number as a decimal (`20.0`). Everything else as JSON.stringify.
 */
export function typedJson(value: unknown): string {
  if (typeof value === 'bigint') return value.toString()
  if (typeof value === 'number') return decimalText(value)
  if (value === undefined) return 'null'
  if (value === null || typeof value !== 'object') return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map(typedJson).join(',')}]`
  const fields = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${JSON.stringify(k)}:${typedJson(v)}`)
  return `{${fields.join(',')}}`
}

/** A JSON number lexeme is a decimal when it has a fraction or an exponent (`20.0`, `1e3`). */
export const isDecimalLexeme = (lexeme: string): boolean => /[.eE]/.test(lexeme)

class Lexeme {
  constructor(readonly text: string) {}
}

/**
 * A message in plain JSON (what twins store and apps read) plus the JSON
 * Pointers (RFC 6901, relative to the message) of the integral numbers that
 * were decimals in the text (`20.0`). Other numbers type themselves: integral
 * = integer, fractional = decimal.
 */
export interface TypedJson {
  value: unknown
  decimals: string[]
}

/**
 * Parses a message's JSON text keeping each number's kind (SEMANTICS.md §4:
 * `JSON.parse` loses `20.0` vs `20`). Throws SyntaxError on invalid JSON.
 * Integers beyond 2^53 lose precision when stored (documented).
 */
export function parseTypedJson(text: string): TypedJson {
  const raw = parseLossless(text, null, (lexeme: string) => new Lexeme(lexeme))
  const decimals: string[] = []
  const walk = (node: unknown, pointer: string): unknown => {
    if (node instanceof Lexeme) {
      const n = Number(node.text)
      if (isDecimalLexeme(node.text) && Number.isInteger(n)) decimals.push(pointer)
      return n
    }
    if (Array.isArray(node)) return node.map((item, i) => walk(item, `${pointer}/${i}`))
    if (node && typeof node === 'object') {
      const out: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(node)) out[k] = walk(v, `${pointer}/${pointerEscape(k)}`)
      return out
    }
    return node
  }
  return { value: walk(raw, ''), decimals }
}

export const pointerEscape = (segment: string | number): string => String(segment).replace(/~/g, '~0').replace(/\//g, '~1')

/** A stored JSON value read back as an expression value, typed by the decimal pointers. */
export function typedValue(stored: unknown, isDecimalAt: boolean): Value {
  if (typeof stored === 'number') {
    if (!Number.isInteger(stored) || isDecimalAt) return stored
    return Number.isSafeInteger(stored) ? BigInt(stored) : stored
  }
  if (stored === null || typeof stored === 'string' || typeof stored === 'boolean') return stored
  // Objects and arrays are not values of the language: reading one is undefined.
  return undefined
}

/** A value to store in plain JSON (context), and whether it needs a decimal marker. */
export function storedValue(v: Value): { value: unknown; decimal: boolean } {
  if (typeof v === 'bigint') return { value: Number(v), decimal: false }
  if (typeof v === 'number') return { value: v, decimal: Number.isInteger(v) }
  return { value: v, decimal: false }
}

/** The language's name of a value's type, for messages and the analyzer. */
export function typeName(v: Value): string {
  switch (typeof v) {
    case 'bigint':
      return 'integer'
    case 'number':
      return 'decimal'
    case 'string':
      return 'string'
    case 'boolean':
      return 'boolean'
    default:
      return v === null ? 'null' : 'undefined'
  }
}
