import { walk, type Expr } from '../expression/ast.ts'
import { formatJsonPath, type InputDefinition } from './types.ts'

/**
 * Input definitions when the user has only a sample message (the console
 * derived inputs from one): every leaf path of the sample is an attribute;
 * arrays are attributes as a whole (expressions index them with `[n]`).
 */
export function inputFromSample(inputName: string, sample: unknown): InputDefinition {
  const attributes: string[] = []
  const visit = (node: unknown, path: string[]) => {
    if (node && typeof node === 'object' && !Array.isArray(node) && Object.keys(node).length > 0) {
      for (const [k, v] of Object.entries(node)) visit(v, [...path, k])
    } else if (path.length) {
      attributes.push(formatJsonPath(path))
    }
  }
  visit(sample, [])
  return { inputName, attributes }
}

/** An input reference found in a model's expressions: `$input.I.a.b[2]` reads attribute `a.b` of I. */
export interface InputUse {
  input: string
  /** the attribute path up to the first array index */
  attribute: string
}

/** Inputs an expression reads (`$input.…`) or names (`currentInput("…")`). */
export function inputUses(expr: Expr): { reads: InputUse[]; named: string[] } {
  const reads: InputUse[] = []
  const named: string[] = []
  walk(expr, (node) => {
    if (node.kind === 'input') {
      const names: string[] = []
      for (const s of node.path) {
        if (typeof s === 'number') break
        names.push(s)
      }
      if (names.length) reads.push({ input: node.input, attribute: formatJsonPath(names) })
    } else if (node.kind === 'call' && node.name === 'currentInput' && node.args[0]?.kind === 'string') {
      named.push(node.args[0].value)
    }
  })
  return { reads, named }
}

/** Inputs derived from what a model reads, for models imported without their Input definitions. */
export function inputsFromUses(uses: InputUse[], named: string[]): InputDefinition[] {
  const byName = new Map<string, Set<string>>()
  for (const name of named) if (!byName.has(name)) byName.set(name, new Set())
  for (const u of uses) {
    const set = byName.get(u.input) ?? new Set<string>()
    set.add(u.attribute)
    byName.set(u.input, set)
  }
  return [...byName].map(([inputName, attributes]) => ({ inputName, attributes: [...attributes].sort() }))
}

/** True when `attribute` (a read path) is covered by a declared attribute: the same path or inside one. */
export function declares(input: InputDefinition, attribute: string): boolean {
  return input.attributes.some((a) => attribute === a || attribute.startsWith(`${a}.`))
}
