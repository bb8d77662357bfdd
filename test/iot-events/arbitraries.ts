import fc from 'fast-check'
import type { Tree } from './reference.ts'

/** Random expression trees for the property tests: small integers weigh most, so operators meet operands they work on. */
const literals: fc.Arbitrary<Tree> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 9 }).map((v) => ({ k: 'lit' as const, value: { t: 'int' as const, v: BigInt(v) } })) },
  fc.integer({ min: 0, max: 40 }).map((v) => ({ k: 'lit' as const, value: { t: 'int' as const, v: BigInt(v) } })),
  fc.constantFrom(0.5, 2.0, 2.5, 10.25, 3.0).map((v) => ({ k: 'lit' as const, value: { t: 'dec' as const, v } })),
  fc.constantFrom('', 'a', 'ab', 'b', 'off', 'true', 'false', '2.5').map((v) => ({ k: 'lit' as const, value: { t: 'str' as const, v } })),
  fc.boolean().map((v) => ({ k: 'lit' as const, value: { t: 'bool' as const, v } })),
)
const leaves: fc.Arbitrary<Tree> = fc.oneof(
  { weight: 3, arbitrary: literals },
  { weight: 2, arbitrary: fc.constantFrom('i', 'j', 'd', 'w', 's', 'b', 'f', 'unset').map((name) => ({ k: 'var' as const, name })) },
  { weight: 1, arbitrary: fc.constantFrom('n', 'x', 'z', 'txt', 'missing').map((path) => ({ k: 'in' as const, path })) },
)
const BINARY = ['||', '&&', '|', '^', '&', '==', '!=', '<', '<=', '>', '>=', '+', '-', '*', '/']

export const { tree } = fc.letrec<{ tree: Tree }>((rec) => ({
  tree: fc.oneof(
    { depthSize: 'medium', withCrossShrink: true },
    { weight: 3, arbitrary: leaves },
    { weight: 4, arbitrary: fc.record({ k: fc.constant('bin' as const), op: fc.constantFrom(...BINARY), l: rec('tree'), r: rec('tree') }) },
    fc.record({ k: fc.constant('un' as const), op: fc.constantFrom('!' as const, '-' as const, '~' as const), e: rec('tree') }),
    fc.record({ k: fc.constant('bin' as const), op: fc.constantFrom(...BINARY), l: rec('tree'), r: rec('tree') }),
    fc.record({ k: fc.constant('fn' as const), name: fc.constantFrom('isUndefined', 'isNull', 'bitnot', 'triggerType'), args: fc.tuple(rec('tree')) }),
    fc.record({ k: fc.constant('fn' as const), name: fc.constantFrom('startsWith', 'endsWith', 'contains', 'bitand', 'bitor', 'bitxor'), args: fc.tuple(rec('tree'), rec('tree')) }),
    fc.record({ k: fc.constant('conv' as const), to: fc.constantFrom('String' as const, 'Boolean' as const, 'Decimal' as const), e: rec('tree') }),
    fc.record({ k: fc.constant('tpl' as const), parts: fc.tuple(fc.constantFrom('v=', ''), rec('tree'), fc.constantFrom('!', '')) }).map((t) => ({ k: 'tpl' as const, parts: [...t.parts] })),
  ),
}))

