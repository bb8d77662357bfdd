import { createMachine } from 'xstate'
import { describe, expect, it } from 'vitest'
import { defineRule, type RuleInput } from '../../src/definitions/defineRule.ts'
import { TwinRegistry } from '../../src/definitions/registry.ts'
import counter from '../fixtures/twins/counter.ts'
import { thrown } from '../support/thrown.ts'

const rule = (name: string, inputs: RuleInput[]) => defineRule({ name, version: 1, inputs, machine: createMachine({}) })

describe('TwinRegistry with rules', () => {
  it('routes a twin type to the rules fed by it, and serves rule actors as readable types', () => {
    const r = rule('watch', [{ twin: 'counter', changes: 'state', groupBy: 'group' }])
    const registry = new TwinRegistry([counter], [r])
    expect(registry.routes('counter').map((x) => x.rule.name)).toEqual(['watch'])
    expect(registry.routes('watch')).toEqual([])
    expect(() => registry.requireActor('watch')).not.toThrow()
    // Devices cannot send events to a rule actor.
    expect(thrown(() => registry.require('watch')).code).toBe('TWIN_ERR_UNKNOWN_TYPE')
  })

  it('refuses a rule fed by a type that does not exist, saying where rules come from', () => {
    const err = thrown(() => new TwinRegistry([counter], [rule('watch', [{ twin: 'elevator', events: ['x'], groupBy: 'b' }])]))
    expect(err.code).toBe('TWIN_ERR_DEFINITION')
    expect(err.message).toMatch(/"elevator", which is neither a twin type nor a rule .* RULES_DIR/)
  })

  it('refuses rules that feed each other in a loop, a rule fed by itself included', () => {
    const self = rule('echo', [{ twin: 'echo', changes: 'all', groupBy: (t) => t.id }])
    expect(thrown(() => new TwinRegistry([counter], [self])).message).toMatch(/loop \(echo -> echo\)/)
    const a = rule('a', [{ twin: 'counter', changes: 'all', groupBy: 'g' }, { twin: 'b', changes: 'all', groupBy: (t) => t.id }])
    const b = rule('b', [{ twin: 'a', changes: 'all', groupBy: (t) => t.id }])
    expect(thrown(() => new TwinRegistry([counter], [a, b])).message).toMatch(/loop \((a -> b -> a|b -> a -> b)\)/)
  })

  it('refuses grouping a rule source by attribute: rule actors have none', () => {
    const a = rule('a', [{ twin: 'counter', changes: 'all', groupBy: 'g' }])
    const b = rule('b', [{ twin: 'a', changes: 'all', groupBy: 'site' }])
    expect(thrown(() => new TwinRegistry([counter], [a, b])).message).toMatch(/rule actors have no attributes/)
  })
})
