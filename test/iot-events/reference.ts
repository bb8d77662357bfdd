/**
 * A reference evaluator of the IoT Events expression language, written from
 * SEMANTICS.md §4 and A5 (and the choices ADR 0020 makes where AWS left a
 * "?"), sharing no code with src/iot-events: it evaluates a tree, never text,
 * with its own value representation and precedence table, and prints trees as
 * text for the implementation to parse.
 */

export type RefValue =
  | { t: 'int'; v: bigint }
  | { t: 'dec'; v: number }
  | { t: 'str'; v: string }
  | { t: 'bool'; v: boolean }
  | { t: 'null' }
  | { t: 'undef' }
  | { t: 'invalid' }

export type Tree =
  | { k: 'lit'; value: RefValue }
  | { k: 'var'; name: string }
  | { k: 'in'; path: string }
  | { k: 'un'; op: '!' | '-' | '~'; e: Tree }
  | { k: 'bin'; op: string; l: Tree; r: Tree }
  | { k: 'fn'; name: string; args: Tree[] }
  | { k: 'conv'; to: 'String' | 'Boolean' | 'Decimal'; e: Tree }
  | { k: 'tpl'; parts: Array<string | Tree> }

/** C precedence, as ADR 0020 decides (AWS did not document it). Higher binds tighter. */
export const LEVEL: Record<string, number> = { '||': 1, '&&': 2, '|': 3, '^': 4, '&': 5, '==': 6, '!=': 6, '<': 7, '<=': 7, '>': 7, '>=': 7, '+': 8, '-': 8, '*': 9, '/': 9 }

export const VARIABLES: Record<string, RefValue> = {
  i: { t: 'int', v: 3n },
  j: { t: 'int', v: -7n },
  d: { t: 'dec', v: 2.5 },
  w: { t: 'dec', v: 4 },
  s: { t: 'str', v: 'ab' },
  b: { t: 'bool', v: true },
  f: { t: 'bool', v: false },
}
/** $input.I.<path>: `n` 7, `x` 1.5, `z` null, `txt` "offline"; anything else is undefined. */
export const INPUT = { n: 7, x: 1.5, z: null, txt: 'offline' } as const
export const INPUT_TEXT = '{"n": 7, "x": 1.5, "z": null, "txt": "offline"}'

const U: RefValue = { t: 'undef' }
const BAD: RefValue = { t: 'invalid' }
const bool = (v: boolean): RefValue => ({ t: 'bool', v })
const num = (x: RefValue): x is Extract<RefValue, { t: 'int' | 'dec' }> => x.t === 'int' || x.t === 'dec'
const asNumber = (x: Extract<RefValue, { t: 'int' | 'dec' }>): number => Number(x.v)

export function refEval(tree: Tree): RefValue {
  switch (tree.k) {
    case 'lit':
      return tree.value
    case 'var':
      return VARIABLES[tree.name] ?? U
    case 'in': {
      const v = (INPUT as Record<string, unknown>)[tree.path]
      if (v === undefined) return U
      if (v === null) return { t: 'null' }
      if (typeof v === 'string') return { t: 'str', v }
      return Number.isInteger(v) ? { t: 'int', v: BigInt(v as number) } : { t: 'dec', v: v as number }
    }
    case 'un': {
      const x = refEval(tree.e)
      if (x.t === 'invalid') return BAD
      if (tree.op === '!') return x.t === 'bool' ? bool(!x.v) : U
      if (tree.op === '-') return x.t === 'int' ? { t: 'int', v: 0n - x.v } : x.t === 'dec' ? { t: 'dec', v: -x.v } : U
      return x.t === 'int' ? { t: 'int', v: -x.v - 1n } : U
    }
    case 'bin':
      return binary(tree.op, tree.l, tree.r)
    case 'fn':
      return fn(tree.name, tree.args.map(refEval))
    case 'conv':
      return convert(tree.to, refEval(tree.e))
    case 'tpl': {
      let text = ''
      for (const part of tree.parts) {
        if (typeof part === 'string') {
          text += part
          continue
        }
        const x = refEval(part)
        if (x.t === 'invalid') return BAD
        const shown = show(x)
        if (shown === null) return U
        text += shown
      }
      return { t: 'str', v: text }
    }
  }
}

function show(x: RefValue): string | null {
  switch (x.t) {
    case 'str':
      return x.v
    case 'int':
      return String(x.v)
    case 'dec':
      return Number.isInteger(x.v) && Math.abs(x.v) < 1e21 ? `${x.v}.0` : String(x.v)
    case 'bool':
      return String(x.v)
    case 'null':
      return 'null'
    default:
      return null
  }
}

function binary(op: string, lt: Tree, rt: Tree): RefValue {
  if (op === '&&' || op === '||') {
    // Only the boolean true counts as true; the right side is not evaluated when the left decides.
    const l = refEval(lt)
    if (l.t === 'invalid') return BAD
    const lTrue = l.t === 'bool' && l.v
    if (op === '&&' && !lTrue) return bool(false)
    if (op === '||' && lTrue) return bool(true)
    const r = refEval(rt)
    if (r.t === 'invalid') return BAD
    return bool(r.t === 'bool' && r.v)
  }
  const l = refEval(lt)
  const r = refEval(rt)
  if (l.t === 'invalid' || r.t === 'invalid') return BAD
  switch (op) {
    case '==':
      return bool(same(l, r))
    case '!=':
      return bool(!same(l, r))
    case '<':
    case '<=':
    case '>':
    case '>=': {
      let c: number
      if (num(l) && num(r)) c = Math.sign(asNumber(l) - asNumber(r))
      else if (l.t === 'str' && r.t === 'str') c = l.v === r.v ? 0 : l.v < r.v ? -1 : 1
      else return bool(false)
      return bool(op === '<' ? c < 0 : op === '<=' ? c <= 0 : op === '>' ? c > 0 : c >= 0)
    }
    case '+':
      if (l.t === 'str' && r.t === 'str') return { t: 'str', v: l.v + r.v }
    // falls through
    case '-':
    case '*':
    case '/': {
      if (!num(l) || !num(r)) return U
      if (l.t === 'int' && r.t === 'int') {
        if (op === '+') return { t: 'int', v: l.v + r.v }
        if (op === '-') return { t: 'int', v: l.v - r.v }
        if (op === '*') return { t: 'int', v: l.v * r.v }
        if (r.v === 0n) return BAD
        return { t: 'int', v: BigInt(Math.trunc(Number(l.v) / Number(r.v))) }
      }
      const a = asNumber(l)
      const b = asNumber(r)
      if (op === '/' && b === 0) return BAD
      return { t: 'dec', v: op === '+' ? a + b : op === '-' ? a - b : op === '*' ? a * b : a / b }
    }
    case '&':
    case '|':
    case '^':
      return bitwise(op, l, r)
  }
  throw new Error(`reference: unknown operator ${op}`)
}

function same(l: RefValue, r: RefValue): boolean {
  if (l.t === 'undef' || r.t === 'undef') return false
  if (num(l) && num(r)) return asNumber(l) === asNumber(r)
  if (l.t !== r.t) return false
  if (l.t === 'null') return true
  return (l as { v: unknown }).v === (r as { v: unknown }).v
}

function bitwise(op: string, l: RefValue, r: RefValue): RefValue {
  if (l.t !== 'int' || r.t !== 'int') return U
  return { t: 'int', v: op === '&' ? l.v & r.v : op === '|' ? l.v | r.v : l.v ^ r.v }
}

function fn(name: string, args: RefValue[]): RefValue {
  if (args.some((a) => a.t === 'invalid')) return BAD
  const [a, b] = args as [RefValue, RefValue]
  switch (name) {
    case 'isUndefined':
      return bool(a.t === 'undef')
    case 'isNull':
      return bool(a.t === 'null')
    case 'startsWith':
    case 'endsWith':
    case 'contains':
      if (a.t !== 'str' || b.t !== 'str') return U
      return bool(name === 'startsWith' ? a.v.startsWith(b.v) : name === 'endsWith' ? a.v.endsWith(b.v) : a.v.includes(b.v))
    case 'bitand':
      return bitwise('&', a, b)
    case 'bitor':
      return bitwise('|', a, b)
    case 'bitxor':
      return bitwise('^', a, b)
    case 'bitnot':
      return a.t === 'int' ? { t: 'int', v: -a.v - 1n } : U
    case 'triggerType':
      // evaluated on a message trigger
      return a.t === 'str' ? bool(a.v.toLowerCase() === 'message') : U
  }
  throw new Error(`reference: unknown function ${name}`)
}

/** convert(): Boolean->String, number->String, String->Boolean, String->Decimal succeed (D); a value's own type is kept; else invalid. */
function convert(to: 'String' | 'Boolean' | 'Decimal', x: RefValue): RefValue {
  if (x.t === 'invalid') return BAD
  if (to === 'String') {
    if (x.t === 'str' || x.t === 'bool' || num(x)) return { t: 'str', v: show(x)! }
    return BAD
  }
  if (to === 'Boolean') {
    if (x.t === 'bool') return x
    if (x.t === 'str' && /^\s*(true|false)\s*$/i.test(x.v)) return bool(x.v.trim().toLowerCase() === 'true')
    return BAD
  }
  if (x.t === 'dec') return x
  if (x.t === 'int') return { t: 'dec', v: Number(x.v) }
  if (x.t === 'str' && /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/.test(x.v)) return { t: 'dec', v: Number(x.v) }
  return BAD
}

// ---- printing ---------------------------------------------------------------

function literal(v: RefValue): string {
  switch (v.t) {
    case 'int':
      return String(v.v)
    case 'dec':
      return show(v)!
    case 'str':
      return `'${v.v}'`
    case 'bool':
      return String(v.v)
    default:
      throw new Error(`reference: no literal for ${v.t}`)
  }
}

/** Text of a tree with the fewest parentheses C precedence needs (`minimal`), or around every operation. */
export function print(tree: Tree, minimal: boolean): string {
  const p = (t: Tree) => print(t, minimal)
  switch (tree.k) {
    case 'lit':
      return literal(tree.value)
    case 'var':
      return `$variable.${tree.name}`
    case 'in':
      return `$input.I.${tree.path}`
    case 'un': {
      const inner = p(tree.e)
      const wrap = tree.e.k === 'bin' || (!minimal && tree.e.k === 'un')
      return `${tree.op}${wrap ? `(${inner})` : tree.e.k === 'un' || (tree.e.k === 'lit' && inner.startsWith('-')) ? ` ${inner}` : inner}`
    }
    case 'bin': {
      if (!minimal) return `(${p(tree.l)} ${tree.op} ${p(tree.r)})`
      const level = LEVEL[tree.op]!
      const side = (t: Tree, right: boolean) => {
        const text = p(t)
        if (t.k !== 'bin') return text
        const inner = LEVEL[t.op]!
        return inner < level || (right && inner === level) ? `(${text})` : text
      }
      return `${side(tree.l, false)} ${tree.op} ${side(tree.r, true)}`
    }
    case 'fn':
      return `${tree.name}(${tree.args.map(p).join(', ')})`
    case 'conv':
      return `convert(${tree.to}, ${p(tree.e)})`
    case 'tpl':
      return `'${tree.parts.map((part) => (typeof part === 'string' ? part : `\${${p(part)}}`)).join('')}'`
  }
}
