import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { evaluate, type Scope } from '../../src/iot-events/expression/evaluate.ts'
import { ExpressionSyntaxError, parseExpression } from '../../src/iot-events/expression/parse.ts'
import { InvalidExpression, parseTypedJson, type Value } from '../../src/iot-events/expression/values.ts'
import { tree } from './arbitraries.ts'
import { INPUT, VARIABLES, print, refEval, type RefValue } from './reference.ts'

const toValue = (v: RefValue): Value => (v.t === 'undef' || v.t === 'invalid' ? undefined : v.t === 'null' ? null : v.v)

const scope: Scope = {
  variable: (name) => toValue(VARIABLES[name] ?? { t: 'undef' }),
  input: (input, path) => {
    if (input !== 'I' || path.length !== 1) return undefined
    const v = (INPUT as Record<string, unknown>)[path[0] as string]
    if (v === undefined || v === null || typeof v === 'string') return v as Value
    return Number.isInteger(v) ? BigInt(v as number) : (v as number)
  },
  timeout: () => false,
  trigger: { kind: 'message', input: 'I' },
}

/** The implementation's result in the reference's terms. */
function run(text: string): RefValue {
  let v: Value
  try {
    v = evaluate(parseExpression(text), scope)
  } catch (err) {
    if (err instanceof InvalidExpression) return { t: 'invalid' }
    throw err
  }
  switch (typeof v) {
    case 'bigint':
      return { t: 'int', v }
    case 'number':
      return { t: 'dec', v }
    case 'string':
      return { t: 'str', v }
    case 'boolean':
      return { t: 'bool', v }
    default:
      return v === null ? { t: 'null' } : { t: 'undef' }
  }
}

const value = (text: string) => toValue(run(text))

describe('the expression language, on the documented examples', () => {
  it('computes the developer guide examples', () => {
    expect(value('13 | 5')).toBe(13n)
    expect(value('13 & 5')).toBe(5n)
    expect(value('13 ^ 5')).toBe(8n)
    expect(value('~13')).toBe(-14n)
    expect(value("'my' + 'string'")).toBe('mystring')
    expect(value('bitor(13, 5)')).toBe(13n)
    expect(value('bitnot(13)')).toBe(-14n)
    expect(value('startsWith($input.I.txt, "off")')).toBe(true)
    expect(value('endsWith($input.I.txt, "line")')).toBe(true)
    expect(value('contains($input.I.txt, "fli")')).toBe(true)
    expect(value('isNull($input.I.z)')).toBe(true)
    expect(value('isUndefined($input.I.z)')).toBe(false)
    expect(value('isUndefined($input.I.nope)')).toBe(true)
  })

  it('keeps integers and decimals apart: division, printing, JSON lexemes', () => {
    expect(value('7 / 2')).toBe(3n)
    expect(value('-7 / 2')).toBe(-3n)
    expect(value('7.0 / 2')).toBe(3.5)
    expect(value("'${20.0}'")).toBe('20.0')
    expect(value("'${$variable.w} and ${$variable.i}'")).toBe('4.0 and 3')
    expect(parseTypedJson('{"a": 20.0, "b": 20, "c": [1.0, 2]}')).toEqual({ value: { a: 20, b: 20, c: [1, 2] }, decimals: ['/a', '/c/0'] })
  })

  it('applies no coercion and the undefined rules (A5)', () => {
    expect(value('"true" == true')).toBe(false)
    expect(value('"true" != true')).toBe(true)
    expect(value('$variable.nope != $variable.nope')).toBe(true)
    expect(value('$variable.nope == $variable.nope')).toBe(false)
    expect(value('$variable.nope < 1 || $variable.nope >= 1')).toBe(false)
    expect(value('$variable.nope + 1')).toBe(undefined)
    expect(value('$variable.nope != true')).toBe(true)
    expect(value('1 == 1.0')).toBe(true)
    expect(value("1 + 'a'")).toBe(undefined)
    expect(value('convert(Decimal, "x")')).toBe(undefined) // invalid
    expect(run('convert(Decimal, "x")')).toEqual({ t: 'invalid' })
    expect(value('convert(String, true)')).toBe('true')
    expect(value('convert(Decimal, "2.50")')).toBe(2.5)
  })

  it('reads input paths with backticks and array indexes', () => {
    const expr = parseExpression('$input.TemperatureInput.`sensor data`.temperatures[2] > 78')
    expect(expr).toMatchObject({ kind: 'binary', left: { kind: 'input', input: 'TemperatureInput', path: ['sensor data', 'temperatures', 2] } })
  })

  it('refuses what IoT Events did not have, at its position', () => {
    const refused = (text: string) => {
      try {
        parseExpression(text)
      } catch (err) {
        expect(err).toBeInstanceOf(ExpressionSyntaxError)
        return [(err as ExpressionSyntaxError).at, (err as Error).message]
      }
      throw new Error(`${text} parsed`)
    }
    expect(refused('abs($variable.x)')).toEqual([0, expect.stringContaining('unknown function `abs`')])
    expect(refused('$variable.x % 2')).toEqual([12, expect.stringContaining('no `%`')])
    expect(refused('$variable.x = 2')).toEqual([12, expect.stringContaining('compare with `==`')])
    expect(refused('threshold > 2')).toEqual([0, expect.stringContaining('write $variable.threshold')])
    expect(refused('timeout("a", "b")')).toEqual([0, 'timeout() takes 1 argument, got 2'])
    expect(refused("'${$variable.x'")).toEqual([14, expect.stringContaining('not closed')])
    expect(refused('($variable.x > 1')).toEqual([16, expect.stringContaining('expected `)`')])
  })
})

// ---- property test against the reference --------------------------------------

const sameValue = (a: RefValue, b: RefValue): boolean => {
  if (a.t !== b.t) return false
  if (a.t === 'dec') return Object.is((a as { v: number }).v, (b as { v: number }).v) || (Number.isNaN(a.v) && Number.isNaN((b as { v: number }).v))
  return JSON.stringify(a, (_, v) => (typeof v === 'bigint' ? `${v}n` : v)) === JSON.stringify(b, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))
}

describe('the evaluator against an independent reference', () => {
  it('agrees on precedence, types and undefined for random expressions printed with minimal parentheses', () => {
    fc.assert(
      fc.property(tree, (t) => {
        const text = print(t, true)
        const expected = refEval(t)
        const actual = run(text)
        if (!sameValue(expected, actual)) throw new Error(`${text}: reference ${JSON.stringify(expected, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))}, evaluator ${JSON.stringify(actual, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))}`)
      }),
      { numRuns: 3000 },
    )
  })

  it('gives the same value with every operation parenthesised (the parser builds the tree the precedence says)', () => {
    fc.assert(
      fc.property(tree, (t) => {
        expect(run(print(t, true))).toEqual(run(print(t, false)))
      }),
      { numRuns: 1000 },
    )
  })
})
