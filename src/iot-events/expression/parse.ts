import { BINARY_POWER, FUNCTIONS, UNARY_POWER, type BinaryOp, type Expr, type FunctionName, type PathSegment } from './ast.ts'

/**
 * Parses AWS IoT Events expressions (SEMANTICS.md §4) into a tree with source
 * positions. A hand-written Pratt parser (ADR 0020): the language is fifteen
 * operators, literals, two reference forms and thirteen functions, and a
 * parser generator would add a build step and generic error messages where
 * import errors must say exactly what to change.
 */

/** A refused expression: `at` is the 0-based offset of the problem. */
export class ExpressionSyntaxError extends Error {
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(message)
    this.name = 'ExpressionSyntaxError'
  }
}

type Token =
  | { kind: 'number'; text: string; start: number; end: number }
  | { kind: 'string'; expr: Expr; start: number; end: number }
  | { kind: 'word'; text: string; start: number; end: number }
  | { kind: 'ref'; expr: Expr; start: number; end: number }
  | { kind: 'op'; text: string; start: number; end: number }
  | { kind: 'end'; start: number; end: number }

const OPERATORS = ['&&', '||', '==', '!=', '<=', '>=', '<', '>', '+', '-', '*', '/', '!', '~', '&', '|', '^', '(', ')', ',', '}']
const SEGMENT = /[A-Za-z0-9_]/
const VARIABLE_NAME = /^[A-Za-z][A-Za-z0-9_]*$/
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r' }

export function parseExpression(source: string): Expr {
  const parser = new Parser(source, 0)
  const expr = parser.expression(0)
  const rest = parser.next()
  if (rest.kind !== 'end') {
    const hint = rest.kind === 'op' && rest.text === '}' ? ' (a `}` outside a ${…} template)' : ''
    throw new ExpressionSyntaxError(`unexpected ${describe(rest, source)}${hint}: the expression ends at ${rest.start}`, rest.start)
  }
  return expr
}

function describe(token: Token, source: string): string {
  return token.kind === 'end' ? 'end of expression' : `\`${source.slice(token.start, token.end)}\``
}

class Parser {
  private peeked: Token | null = null

  constructor(
    private readonly source: string,
    private pos: number,
  ) {}

  get offset(): number {
    return this.peeked ? this.peeked.start : this.pos
  }

  next(): Token {
    const token = this.peek()
    this.peeked = null
    return token
  }

  peek(): Token {
    if (!this.peeked) this.peeked = this.lex()
    return this.peeked
  }

  expression(minPower: number): Expr {
    let left = this.prefix()
    for (;;) {
      const token = this.peek()
      if (token.kind !== 'op' || !(token.text in BINARY_POWER)) break
      const op = token.text as BinaryOp
      const power = BINARY_POWER[op]
      if (power <= minPower) break
      this.next()
      // Left-associative: the right operand binds tighter than this operator.
      const right = this.expression(power)
      left = { kind: 'binary', op, left, right, start: left.start, end: right.end }
    }
    return left
  }

  private prefix(): Expr {
    const token = this.next()
    switch (token.kind) {
      case 'number':
        return numberLiteral(token.text, token.start, token.end)
      case 'string':
      case 'ref':
        return token.expr
      case 'word':
        return this.word(token)
      case 'op':
        if (token.text === '(') {
          const inner = this.expression(0)
          const close = this.next()
          if (close.kind !== 'op' || close.text !== ')') throw new ExpressionSyntaxError(`expected \`)\` to close the \`(\` at ${token.start}, found ${describe(close, this.source)}`, close.start)
          return { ...inner, start: token.start, end: close.end }
        }
        if (token.text === '!' || token.text === '-' || token.text === '~') {
          const operand = this.expression(UNARY_POWER - 1)
          return { kind: 'unary', op: token.text, operand, start: token.start, end: operand.end }
        }
        throw new ExpressionSyntaxError(`expected a value, found \`${token.text}\``, token.start)
      default:
        throw new ExpressionSyntaxError('expected a value, found the end of the expression', token.start)
    }
  }

  private word(token: Extract<Token, { kind: 'word' }>): Expr {
    if (token.text === 'true' || token.text === 'false') return { kind: 'bool', value: token.text === 'true', start: token.start, end: token.end }
    const open = this.peek()
    if (open.kind !== 'op' || open.text !== '(') {
      throw new ExpressionSyntaxError(`unknown name \`${token.text}\`: write $variable.${token.text} for a variable, '${token.text}' for a string`, token.start)
    }
    if (!Object.hasOwn(FUNCTIONS, token.text)) {
      throw new ExpressionSyntaxError(`unknown function \`${token.text}\`: IoT Events has only ${Object.keys(FUNCTIONS).join(', ')}`, token.start)
    }
    const name = token.text as FunctionName
    this.next()
    const args: Expr[] = []
    if (!(this.peek().kind === 'op' && (this.peek() as { text: string }).text === ')')) {
      for (;;) {
        args.push(name === 'convert' && args.length === 0 ? this.convertType() : this.expression(0))
        const sep = this.peek()
        if (sep.kind === 'op' && sep.text === ',') {
          this.next()
          continue
        }
        break
      }
    }
    const close = this.next()
    if (close.kind !== 'op' || close.text !== ')') throw new ExpressionSyntaxError(`expected \`,\` or \`)\` in the arguments of ${name}(), found ${describe(close, this.source)}`, close.start)
    if (args.length !== FUNCTIONS[name]) {
      throw new ExpressionSyntaxError(`${name}() takes ${FUNCTIONS[name]} argument${FUNCTIONS[name] === 1 ? '' : 's'}, got ${args.length}`, token.start)
    }
    return { kind: 'call', name, args, start: token.start, end: close.end }
  }

  /** convert(String|Boolean|Decimal, e): a keyword, or an expression that yields one. */
  private convertType(): Expr {
    const token = this.peek()
    if (token.kind === 'word' && (token.text === 'String' || token.text === 'Boolean' || token.text === 'Decimal')) {
      this.next()
      return { kind: 'type', name: token.text, start: token.start, end: token.end }
    }
    return this.expression(0)
  }

  // ---- lexer ------------------------------------------------------------

  private lex(): Token {
    const src = this.source
    while (this.pos < src.length && /\s/.test(src[this.pos]!)) this.pos++
    const start = this.pos
    if (start >= src.length) return { kind: 'end', start, end: start }
    const c = src[start]!
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[start + 1] ?? ''))) {
      const m = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/.exec(src.slice(start))!
      this.pos = start + m[0].length
      if (/[A-Za-z_]/.test(src[this.pos] ?? '')) throw new ExpressionSyntaxError(`a number cannot be followed by \`${src[this.pos]}\``, this.pos)
      return { kind: 'number', text: m[0], start, end: this.pos }
    }
    if (c === "'" || c === '"') return this.string(c, start)
    if (c === '$') return this.reference(start)
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(start))!
      this.pos = start + m[0].length
      return { kind: 'word', text: m[0], start, end: this.pos }
    }
    for (const op of OPERATORS) {
      if (src.startsWith(op, start)) {
        this.pos = start + op.length
        return { kind: 'op', text: op, start, end: this.pos }
      }
    }
    const hint = c === '=' ? ': compare with `==`' : c === '%' ? ': IoT Events has no `%`' : c === '?' ? ': IoT Events has no `? :`' : ''
    throw new ExpressionSyntaxError(`unexpected character \`${c}\`${hint}`, start)
  }

  /** A quoted string; `${expr}` inside makes it a substitution template. */
  private string(quote: string, start: number): Token {
    const src = this.source
    const parts: Array<string | Expr> = []
    let text = ''
    let i = start + 1
    for (;;) {
      if (i >= src.length) throw new ExpressionSyntaxError(`string opened at ${start} is not closed: add ${quote}`, start)
      const c = src[i]!
      if (c === quote) break
      if (c === '\\' && i + 1 < src.length) {
        const e = src[i + 1]!
        text += ESCAPES[e] ?? (e === quote || e === '\\' || e === '$' || e === "'" || e === '"' ? e : `\\${e}`)
        i += 2
        continue
      }
      if (c === '$' && src[i + 1] === '{') {
        if (text) parts.push(text)
        text = ''
        const inner = new Parser(src, i + 2)
        const expr = inner.expression(0)
        const close = inner.next()
        if (close.kind !== 'op' || close.text !== '}') throw new ExpressionSyntaxError(`expected \`}\` to close the \${ at ${i}, found ${describe(close, src)}`, close.start)
        parts.push(expr)
        i = close.end
        continue
      }
      text += c
      i++
    }
    this.pos = i + 1
    if (parts.length === 0) return { kind: 'string', expr: { kind: 'string', value: text, start, end: this.pos }, start, end: this.pos }
    if (text) parts.push(text)
    return { kind: 'string', expr: { kind: 'template', parts, start, end: this.pos }, start, end: this.pos }
  }

  /** `$input.Name.path.to[2].` + "`odd name`" or `$variable.name`. */
  private reference(start: number): Token {
    const src = this.source
    const m = /^\$(input|variable)\./.exec(src.slice(start))
    if (!m) throw new ExpressionSyntaxError('a reference is $input.<Input>.<path> or $variable.<name>', start)
    this.pos = start + m[0].length
    const segments: PathSegment[] = [this.segment(start)]
    for (;;) {
      const c = src[this.pos]
      if (c === '.' && (SEGMENT.test(src[this.pos + 1] ?? '') || src[this.pos + 1] === '`')) {
        this.pos++
        segments.push(this.segment(start))
      } else if (c === '[') {
        const idx = /^\[\s*([0-9]+)\s*\]/.exec(src.slice(this.pos))
        if (!idx) throw new ExpressionSyntaxError('an array index is [n] with a non-negative integer n', this.pos)
        segments.push(Number(idx[1]))
        this.pos += idx[0].length
      } else break
    }
    const end = this.pos
    if (m[1] === 'variable') {
      const name = segments[0] as string
      if (segments.length !== 1 || !VARIABLE_NAME.test(name)) {
        throw new ExpressionSyntaxError(`variable names match [a-zA-Z][a-zA-Z0-9_]* and have no path: \`${src.slice(start, end)}\``, start)
      }
      return { kind: 'ref', expr: { kind: 'variable', name, start, end }, start, end }
    }
    const [input, ...path] = segments
    if (typeof input !== 'string' || !VARIABLE_NAME.test(input)) throw new ExpressionSyntaxError(`input names match [a-zA-Z][a-zA-Z0-9_]*: \`${src.slice(start, end)}\``, start)
    if (path.length === 0) throw new ExpressionSyntaxError(`$input.${input} needs the path of an attribute: $input.${input}.<attribute>`, start)
    return { kind: 'ref', expr: { kind: 'input', input, path, start, end }, start, end }
  }

  private segment(refStart: number): string {
    const src = this.source
    if (src[this.pos] === '`') {
      const close = src.indexOf('`', this.pos + 1)
      if (close < 0) throw new ExpressionSyntaxError('a name in backticks is not closed: add `', this.pos)
      const name = src.slice(this.pos + 1, close)
      this.pos = close + 1
      return name
    }
    const m = /^[A-Za-z0-9_]+/.exec(src.slice(this.pos))
    if (!m) throw new ExpressionSyntaxError(`expected a name after \`${src.slice(refStart, this.pos)}\` (names with other characters go in backticks)`, this.pos)
    this.pos += m[0].length
    return m[0]
  }
}

function numberLiteral(text: string, start: number, end: number): Expr {
  if (/[.eE]/.test(text)) return { kind: 'decimal', value: Number(text), start, end }
  return { kind: 'int', value: BigInt(text), start, end }
}

/** Every input, variable and timer an expression names: what the analyzer and the input derivation need. */
export interface References {
  inputs: Array<{ input: string; path: PathSegment[]; start: number }>
  variables: Array<{ name: string; start: number }>
  timers: Array<{ name: string; start: number }>
  /** inputs named by currentInput("…") */
  currentInputs: Array<{ input: string; start: number }>
  triggerTypes: Array<{ value: string; start: number }>
}
