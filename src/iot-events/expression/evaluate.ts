import type { BinaryOp, Expr, PathSegment } from './ast.ts'
import { InvalidExpression, isNumber, valueText, type Value } from './values.ts'

/**
 * What an expression can see while it is evaluated: the detector's variables,
 * the last message of each input (A1), the timers' timeout latches (A4) and
 * what triggered the evaluation.
 */
export interface Scope {
  variable(name: string): Value
  input(input: string, path: readonly PathSegment[]): Value
  /** reads timer `name`'s timeout latch (A4: reading it consumes it at the end of the pass) */
  timeout(name: string): boolean
  readonly trigger: { kind: 'message'; input: string } | { kind: 'timer'; timer: string }
}

/**
 * Evaluates an expression as AWS IoT Events did (SEMANTICS.md §4, A5): no
 * coercion; undefined propagates through arithmetic and functions, compares
 * false with `< <= == >= >` and true with `!=`; `&&`/`||` treat anything but
 * `true` as false and short-circuit (so an unread timeout() stays set).
 * Throws InvalidExpression where AWS made the whole expression invalid.
 */
export function evaluate(expr: Expr, scope: Scope): Value {
  switch (expr.kind) {
    case 'int':
    case 'decimal':
    case 'string':
    case 'bool':
      return expr.value
    case 'template':
      return template(expr.parts, scope)
    case 'variable':
      return scope.variable(expr.name)
    case 'input':
      return scope.input(expr.input, expr.path)
    case 'type':
      return expr.name
    case 'unary':
      return unary(expr.op, evaluate(expr.operand, scope))
    case 'binary':
      if (expr.op === '&&') return evaluate(expr.left, scope) === true ? evaluate(expr.right, scope) === true : false
      if (expr.op === '||') return evaluate(expr.left, scope) === true ? true : evaluate(expr.right, scope) === true
      return binary(expr.op, evaluate(expr.left, scope), evaluate(expr.right, scope))
    case 'call':
      return call(expr, scope)
  }
}

/** A condition: true only when the expression is the boolean true (D: anything else, errors included, is false). */
export function evaluateCondition(expr: Expr, scope: Scope): boolean {
  try {
    return evaluate(expr, scope) === true
  } catch (err) {
    if (err instanceof InvalidExpression) return false
    throw err
  }
}

/** A value, or undefined when the expression is undefined or invalid (A6: the action is skipped). */
export function evaluateValue(expr: Expr, scope: Scope): Value {
  try {
    return evaluate(expr, scope)
  } catch (err) {
    if (err instanceof InvalidExpression) return undefined
    throw err
  }
}

function template(parts: Array<string | Expr>, scope: Scope): Value {
  let out = ''
  for (const part of parts) {
    if (typeof part === 'string') {
      out += part
      continue
    }
    const text = valueText(evaluate(part, scope))
    // An undefined substitution leaves nothing sensible to send: the template is undefined.
    if (text === null) return undefined
    out += text
  }
  return out
}

function unary(op: '!' | '-' | '~', v: Value): Value {
  switch (op) {
    case '!':
      return typeof v === 'boolean' ? !v : undefined
    case '-':
      return typeof v === 'bigint' ? -v : typeof v === 'number' ? -v : undefined
    case '~':
      return typeof v === 'bigint' ? ~v : undefined
  }
}

export function binary(op: Exclude<BinaryOp, '&&' | '||'>, a: Value, b: Value): Value {
  switch (op) {
    case '==':
      return equal(a, b)
    case '!=':
      return !equal(a, b)
    case '<':
    case '<=':
    case '>':
    case '>=':
      return compare(op, a, b)
    case '+':
      if (typeof a === 'string' && typeof b === 'string') return a + b
      return arithmetic(op, a, b)
    case '-':
    case '*':
    case '/':
      return arithmetic(op, a, b)
    case '&':
    case '|':
    case '^':
      if (typeof a !== 'bigint' || typeof b !== 'bigint') return undefined
      return op === '&' ? a & b : op === '|' ? a | b : a ^ b
  }
}

/** Equality without coercion: numbers compare by value (1 == 1.0), other types only with their own type. */
function equal(a: Value, b: Value): boolean {
  if (a === undefined || b === undefined) return false
  if (isNumber(a) && isNumber(b)) return typeof a === typeof b ? a === b : Number(a) === Number(b)
  return typeof a === typeof b && a === b
}

function compare(op: '<' | '<=' | '>' | '>=', a: Value, b: Value): boolean {
  let c: number
  if (isNumber(a) && isNumber(b)) {
    const [x, y] = typeof a === typeof b ? [a, b] : [Number(a), Number(b)]
    c = x < y ? -1 : x > y ? 1 : 0
  } else if (typeof a === 'string' && typeof b === 'string') {
    c = a < b ? -1 : a > b ? 1 : 0
  } else {
    return false
  }
  return op === '<' ? c < 0 : op === '<=' ? c <= 0 : op === '>' ? c > 0 : c >= 0
}

function arithmetic(op: '+' | '-' | '*' | '/', a: Value, b: Value): Value {
  if (!isNumber(a) || !isNumber(b)) return undefined
  if (typeof a === 'bigint' && typeof b === 'bigint') {
    if (op === '/') {
      if (b === 0n) throw new InvalidExpression('integer division by zero')
      // "a rounded integer value" (D); the rounding mode is not stated: truncation toward zero, as Java's long division (ADR 0020).
      return a / b
    }
    return op === '+' ? a + b : op === '-' ? a - b : a * b
  }
  const x = Number(a)
  const y = Number(b)
  if (op === '/' && y === 0) throw new InvalidExpression('division by zero')
  return op === '+' ? x + y : op === '-' ? x - y : op === '*' ? x * y : x / y
}

function call(expr: Extract<Expr, { kind: 'call' }>, scope: Scope): Value {
  const arg = (i: number) => evaluate(expr.args[i]!, scope)
  switch (expr.name) {
    case 'timeout': {
      const name = arg(0)
      return typeof name === 'string' ? scope.timeout(name) : undefined
    }
    case 'triggerType': {
      const kind = arg(0)
      // The docs write "Timer"/"Message", the analyzer "MESSAGE": compared case-insensitively (SEMANTICS.md §4 "?").
      return typeof kind === 'string' ? kind.toLowerCase() === scope.trigger.kind : undefined
    }
    case 'currentInput': {
      const name = arg(0)
      if (typeof name !== 'string') return undefined
      return scope.trigger.kind === 'message' && scope.trigger.input === name
    }
    case 'isNull':
      return arg(0) === null
    case 'isUndefined':
      return arg(0) === undefined
    case 'convert':
      return convert(arg(0), arg(1))
    case 'startsWith':
    case 'endsWith':
    case 'contains': {
      const a = arg(0)
      const b = arg(1)
      if (typeof a !== 'string' || typeof b !== 'string') return undefined
      return expr.name === 'startsWith' ? a.startsWith(b) : expr.name === 'endsWith' ? a.endsWith(b) : a.includes(b)
    }
    case 'bitor':
    case 'bitand':
    case 'bitxor': {
      const a = arg(0)
      const b = arg(1)
      if (typeof a !== 'bigint' || typeof b !== 'bigint') return undefined
      return expr.name === 'bitor' ? a | b : expr.name === 'bitand' ? a & b : a ^ b
    }
    case 'bitnot': {
      const a = arg(0)
      return typeof a === 'bigint' ? ~a : undefined
    }
  }
}

const DECIMAL_TEXT = /^\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*$/

/**
 * convert(type, value): only Boolean->String, Decimal->String, String->Boolean
 * and String->Decimal succeed (D); an integer counts as a decimal number here,
 * and converting to a value's own type returns it. Anything else makes the
 * whole expression invalid.
 */
function convert(type: Value, v: Value): Value {
  const fail = (): never => {
    throw new InvalidExpression(`convert(${String(type)}, …) cannot convert this ${typeof v} value`)
  }
  switch (type) {
    case 'String':
      if (typeof v === 'string') return v
      if (typeof v === 'boolean' || isNumber(v)) return valueText(v)!
      return fail()
    case 'Boolean':
      if (typeof v === 'boolean') return v
      if (typeof v === 'string' && /^(true|false)$/i.test(v.trim())) return v.trim().toLowerCase() === 'true'
      return fail()
    case 'Decimal':
      if (typeof v === 'number') return v
      if (typeof v === 'bigint') return Number(v)
      if (typeof v === 'string' && DECIMAL_TEXT.test(v)) return Number(v)
      return fail()
    default:
      return fail()
  }
}
