/**
 * The syntax tree of an AWS IoT Events expression. Every node carries its
 * source span (`start`..`end`, 0-based character offsets into the expression)
 * so the analyzer and import errors can point at it.
 */
export type Expr =
  | { kind: 'int'; value: bigint; start: number; end: number }
  | { kind: 'decimal'; value: number; start: number; end: number }
  | { kind: 'string'; value: string; start: number; end: number }
  | { kind: 'template'; parts: Array<string | Expr>; start: number; end: number }
  | { kind: 'bool'; value: boolean; start: number; end: number }
  | { kind: 'variable'; name: string; start: number; end: number }
  | { kind: 'input'; input: string; path: PathSegment[]; start: number; end: number }
  | { kind: 'unary'; op: UnaryOp; operand: Expr; start: number; end: number }
  | { kind: 'binary'; op: BinaryOp; left: Expr; right: Expr; start: number; end: number }
  | { kind: 'call'; name: FunctionName; args: Expr[]; start: number; end: number }
  /** the first argument of convert(): a type keyword */
  | { kind: 'type'; name: 'String' | 'Boolean' | 'Decimal'; start: number; end: number }

/** A step of an input path: an attribute name or an array index (`a[2]`). */
export type PathSegment = string | number

export type UnaryOp = '!' | '-' | '~'
export type BinaryOp = '||' | '&&' | '|' | '^' | '&' | '==' | '!=' | '<' | '<=' | '>' | '>=' | '+' | '-' | '*' | '/'

/**
 * The complete list of IoT Events functions (developer guide, "Functions"),
 * with their arity. There is no abs, floor, round, substring, now…: those are
 * IoT Core SQL / SiteWise, and an import naming one is refused.
 */
export const FUNCTIONS = {
  timeout: 1,
  convert: 2,
  isNull: 1,
  isUndefined: 1,
  triggerType: 1,
  currentInput: 1,
  startsWith: 2,
  endsWith: 2,
  contains: 2,
  bitor: 2,
  bitand: 2,
  bitxor: 2,
  bitnot: 1,
} as const

export type FunctionName = keyof typeof FUNCTIONS

/**
 * Binding power of binary operators. Precedence is not documented by AWS
 * (SEMANTICS.md §4 "?"): we take C's, the language the syntax is borrowed from.
 */
export const BINARY_POWER: Record<BinaryOp, number> = {
  '||': 1,
  '&&': 2,
  '|': 3,
  '^': 4,
  '&': 5,
  '==': 6,
  '!=': 6,
  '<': 7,
  '<=': 7,
  '>': 7,
  '>=': 7,
  '+': 8,
  '-': 8,
  '*': 9,
  '/': 9,
}
export const UNARY_POWER = 10

/** Calls every node of the tree, parents first. */
export function walk(expr: Expr, visit: (node: Expr) => void): void {
  visit(expr)
  switch (expr.kind) {
    case 'template':
      for (const part of expr.parts) if (typeof part !== 'string') walk(part, visit)
      break
    case 'unary':
      walk(expr.operand, visit)
      break
    case 'binary':
      walk(expr.left, visit)
      walk(expr.right, visit)
      break
    case 'call':
      for (const arg of expr.args) walk(arg, visit)
      break
    default:
      break
  }
}
