import { createMachine } from 'xstate'
import { describe, expect, it } from 'vitest'
import { defineTwin, type TwinDefinitionInput } from '../../src/definitions/defineTwin.ts'
import { resolveInput } from '../../src/definitions/inputMessages.ts'
import { TwinRegistry } from '../../src/definitions/registry.ts'
import { parseKeyPath } from '../../src/definitions/topicInputs.ts'
import { keyOfTwinId, twinIdOfKey } from '../../src/model/keyIds.ts'
import { filterMatches, filtersOverlap, topicFilterProblem, topicNameProblem } from '../../src/model/topicFilters.ts'
import { thrown } from '../support/thrown.ts'

/** Input topics and outputs of twin definitions (ADR 0021): declarations, the index, and what a message becomes. Pure. */

const machine = createMachine({ id: 'm', initial: 'idle', states: { idle: { on: { '*': {} } } } })
const events = { reading: { properties: { motorid: { type: 'string' }, pressure: { type: 'number' } } }, raw: {} }

function twin(type: string, extra: Partial<TwinDefinitionInput> = {}) {
  return defineTwin({ type, version: 1, machine, events, ...extra })
}

describe('topic names and filters (MQTT 4.7)', () => {
  it('checks filters and names', () => {
    expect(topicFilterProblem('plant/+/pressure')).toBeNull()
    expect(topicFilterProblem('plant/#')).toBeNull()
    expect(topicFilterProblem('plant/#/x')).toMatch(/#/)
    expect(topicFilterProblem('plant/a+')).toMatch(/\+/)
    expect(topicFilterProblem('')).toBe('is empty')
    expect(topicNameProblem('hvac/Heating/On')).toBeNull()
    expect(topicNameProblem('a/+/b')).toMatch(/wildcard/)
    expect(topicNameProblem('a\u0000b')).toMatch(/NUL/)
  })

  it('matches topics against filters, and tells which filters overlap', () => {
    expect(filterMatches('plant/+/pressure', 'plant/p1/pressure')).toBe(true)
    expect(filterMatches('plant/+/pressure', 'plant/p1/temp')).toBe(false)
    expect(filterMatches('plant/#', 'plant')).toBe(true)
    expect(filterMatches('plant/#', 'plant/a/b/c')).toBe(true)
    expect(filterMatches('+/x', '$SYS/x')).toBe(false)
    expect(filterMatches('a/b', 'a/b/c')).toBe(false)
    expect(filtersOverlap('site/+/lift/+', 'site/s1/lift/#')).toBe(true)
    expect(filtersOverlap('site/+/lift/+', 'site/s1/door/x')).toBe(false)
    expect(filtersOverlap('a/b', 'a/b/#')).toBe(true)
    expect(filtersOverlap('a', 'a/+')).toBe(false)
  })
})

describe('key paths and ids', () => {
  it('parses IoT Events key paths, backticks included', () => {
    expect(parseKeyPath('motorid')).toEqual(['motorid'])
    expect(parseKeyPath('sensor.serial-no')).toEqual(['sensor', 'serial-no'])
    expect(parseKeyPath('`device id`.x')).toEqual(['device id', 'x'])
    for (const bad of ['', 'a.', '.a', 'a..b', 'a b', '`a', '``', 'a[0]']) expect(parseKeyPath(bad), bad).toBeNull()
  })

  it('maps key values to ids reversibly and refuses what no id can carry', () => {
    expect(twinIdOfKey('Fulton A32')).toBe('Fulton:20A32')
    expect(twinIdOfKey('plant:1')).toBe('plant:3A1')
    expect(keyOfTwinId('plant:3A1')).toBe('plant:1')
    expect(twinIdOfKey(7)).toBe('7')
    expect(twinIdOfKey(true)).toBe('true')
    for (const bad of ['', null, {}, [], 'é'.repeat(50)]) expect(thrown(() => twinIdOfKey(bad)).code).toBe('TWIN_ERR_INVALID_ID')
  })
})

describe('defineTwin inputs and outputs', () => {
  it('completes a declaration: name from the event, payload by default, a fixed id without a key path', () => {
    const t = twin('pump', { inputs: [{ topic: 'plant/pressure', event: 'reading', keyPath: 'motorid' }, { topic: 'plant/all', event: 'raw' }] })
    expect(t.inputs).toEqual([
      { topic: 'plant/pressure', event: 'reading', name: 'reading', keyPath: ['motorid'], keyPathText: 'motorid', id: 'default', as: 'payload', label: 'twin type pump, input reading' },
      { topic: 'plant/all', event: 'raw', name: 'raw', keyPath: null, keyPathText: null, id: 'default', as: 'payload', label: 'twin type pump, input raw' },
    ])
    expect(t.outputs).toEqual({})
  })

  it.each([
    ['a topic under devices/', { topic: 'devices/pump/x/reading', event: 'reading' }, /devices\//],
    ['a topic under twins/', { topic: 'twins/#', event: 'reading' }, /twins\//],
    ['a $ topic', { topic: '$aws/things/x', event: 'reading' }, /\$/],
    ['a leading wildcard', { topic: '+/pressure', event: 'reading' }, /wildcard/],
    ['a bad filter', { topic: 'plant/#/x', event: 'reading' }, /#/],
    ['an undeclared event', { topic: 'plant/x', event: 'nope' }, /not one of the declared events/],
    ['a bad key path', { topic: 'plant/x', event: 'reading', keyPath: 'a..b' }, /keyPath/],
    ['key path and id', { topic: 'plant/x', event: 'reading', keyPath: 'a', id: 'b' }, /not both/],
    ['a bad id', { topic: 'plant/x', event: 'reading', id: 'a b' }, /id "a b"/],
    ['a bad mode', { topic: 'plant/x', event: 'reading', as: 'text' }, /as must be/],
  ])('refuses %s', (_what, input, why) => {
    const err = thrown(() => twin('pump', { inputs: [input as never] }))
    expect(err.code).toBe('TWIN_ERR_DEFINITION')
    expect(err.message).toMatch(why)
  })

  it('refuses outputs that name no fields', () => {
    expect(thrown(() => twin('pump', { outputs: { alert: { publish: { topic: 'topic' } } as never } })).message).toMatch(/publish.payload/)
    expect(thrown(() => twin('pump', { outputs: { alert: { mail: {} } as never } })).message).toMatch(/publish|input/)
  })
})

describe('the input index and what a message becomes', () => {
  const motor = twin('motor', { inputs: [{ topic: 'plant/temperature', event: 'reading', keyPath: 'motorid', name: 'Temperature' }] })
  const crane = twin('crane', { inputs: [{ topic: 'plant/temperature', event: 'raw', keyPath: '`crane id`', name: 'Temperature', as: 'message' }] })
  const site = twin('site', { inputs: [{ topic: 'plant/+', event: 'raw', id: 'plant-1' }] })
  const registry = new TwinRegistry([motor, crane, site])

  it('finds every type taking a topic (exact and wildcard filters) or a name, in definition order', () => {
    expect(registry.inputs.onTopic('plant/temperature').map((t) => t.definition.type)).toEqual(['motor', 'crane', 'site'])
    expect(registry.inputs.onTopic('plant/pressure').map((t) => t.definition.type)).toEqual(['site'])
    expect(registry.inputs.onTopic('factory/x')).toEqual([])
    expect(registry.inputs.named('Temperature').map((t) => t.definition.type)).toEqual(['motor', 'crane'])
    expect(registry.filters).toEqual(['devices/+/+/+', 'plant/temperature', 'plant/+'])
  })

  it('refuses an input topic overlapping a device topic template', () => {
    const lift = twin('lift', { topic: 'site/{id}/lift/{event}' })
    const clash = twin('clash', { inputs: [{ topic: 'site/+/lift/#', event: 'raw' }] })
    expect(thrown(() => new TwinRegistry([lift, clash])).message).toMatch(/overlaps the device topic template "site\/\{id\}\/lift\/\{event\}"/)
  })

  it('makes one inbox entry per target, the id from each key path; a target without its key is refused alone', () => {
    const text = '{"motorid": "m 1", "crane id": "c1", "pressure": 2.50}'
    const r = resolveInput(registry.inputs.onTopic('plant/temperature'), text, { maxBytes: 4096 })
    expect(r.deliveries).toEqual([
      { type: 'motor', id: 'm:201', event: 'reading', payload: text },
      { type: 'crane', id: 'c1', event: 'raw', payload: JSON.stringify({ message: text }) },
      { type: 'site', id: 'plant-1', event: 'raw', payload: text },
    ])
    const missing = resolveInput(registry.inputs.onTopic('plant/temperature'), '{"motorid": "m2"}', { maxBytes: 4096, messageId: 'x1' })
    expect(missing.deliveries.map((d) => d.type)).toEqual(['motor', 'site'])
    expect(missing.refusals).toHaveLength(1)
    expect(missing.refusals[0]).toMatchObject({ type: 'crane', event: 'raw' })
    expect(missing.refusals[0]!.error.code).toBe('TWIN_ERR_INPUT_KEY_MISSING')
    expect(missing.refusals[0]!.error.message).toBe('twin type crane, input Temperature: the message has no value at `crane id`, the key path naming its twin')
  })

  it('checks each target\'s event: `payload` targets refuse reserved fields and schema mismatches, `message` targets take the text whole', () => {
    const r = resolveInput(registry.inputs.named('Temperature'), '{"motorid": "m1", "crane id": "c1", "type": "x", "pressure": "high"}', { maxBytes: 4096, messageId: 'a-1' })
    expect(r.refusals.map((x) => [x.type, x.error.code])).toEqual([['motor', 'TWIN_ERR_PAYLOAD_RESERVED_FIELD']])
    expect(JSON.parse(r.deliveries[0]!.payload)).toEqual({ message: '{"motorid": "m1", "crane id": "c1", "type": "x", "pressure": "high"}', messageId: 'a-1' })
    const typed = resolveInput(registry.inputs.named('Temperature'), '{"motorid": "m1", "crane id": "c1", "pressure": "high"}', { maxBytes: 4096 })
    expect(typed.refusals.map((x) => [x.type, x.error.code])).toEqual([['motor', 'TWIN_ERR_PAYLOAD_SCHEMA']])
    const bad = resolveInput(registry.inputs.named('Temperature'), '{"motorid": {"a": 1}, "crane id": null}', { maxBytes: 4096 })
    expect(bad.refusals.map((x) => x.error.code)).toEqual(['TWIN_ERR_INVALID_ID', 'TWIN_ERR_INVALID_ID'])
  })

  it('refuses a message no target can read, for all of them', () => {
    expect(thrown(() => resolveInput(registry.inputs.named('Temperature'), '[1]', { maxBytes: 4096 })).code).toBe('TWIN_ERR_PAYLOAD_NOT_OBJECT')
    expect(thrown(() => resolveInput(registry.inputs.named('Temperature'), 'x', { maxBytes: 4096 })).code).toBe('TWIN_ERR_PAYLOAD_NOT_JSON')
    expect(thrown(() => resolveInput(registry.inputs.named('Temperature'), '{"a": "12345"}', { maxBytes: 8 })).code).toBe('TWIN_ERR_PAYLOAD_TOO_LARGE')
  })
})
