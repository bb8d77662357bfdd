import { describe, expect, it } from 'vitest'
import { parsePayload, truncate, validateEvent } from '../../src/definitions/validate.ts'
import { TwinError } from '../../src/errors.ts'
import { ID_PATTERN } from '../../src/model/ids.ts'
import counter from '../fixtures/twins/counter.ts'
import { thrown } from '../support/thrown.ts'

describe('parsePayload', () => {
  it('parses a JSON object from a Buffer or a string', () => {
    expect(parsePayload(Buffer.from('{"seq":3,"x":{"y":[1]}}'), 4096)).toEqual({ seq: 3, x: { y: [1] } })
    expect(parsePayload(' {"seq":3} \n', 4096)).toEqual({ seq: 3 })
  })

  it('turns an empty payload into {}', () => {
    expect(parsePayload(Buffer.alloc(0), 4096)).toEqual({})
    expect(parsePayload('', 4096)).toEqual({})
    expect(parsePayload('', 0)).toEqual({})
  })

  it('accepts a payload of exactly the limit and refuses one byte more, counting bytes not characters', () => {
    const exact = `{"seq":1}${' '.repeat(100 - 9)}`
    expect(Buffer.byteLength(exact)).toBe(100)
    expect(parsePayload(exact, 100)).toEqual({ seq: 1 })
    const err = thrown(() => parsePayload(`${exact} `, 100))
    expect(err.code).toBe('TWIN_ERR_PAYLOAD_TOO_LARGE')
    expect(err.message).toBe('payload is 101 bytes; the limit is 100 (MAX_PAYLOAD_BYTES)')
    expect(err.details).toEqual({ size: 101, limit: 100 })
    // 32 characters, 56 bytes: the limit is in bytes.
    const wide = `{"s":"${'é'.repeat(24)}"}`
    expect(wide.length).toBe(32)
    expect(thrown(() => parsePayload(wide, 40)).details).toEqual({ size: 56, limit: 40 })
    expect(thrown(() => parsePayload(Buffer.from(wide), 40)).code).toBe('TWIN_ERR_PAYLOAD_TOO_LARGE')
  })

  it('checks the size before parsing, so a huge non-JSON payload is too large, not malformed', () => {
    expect(thrown(() => parsePayload(Buffer.alloc(5000, 0x7b), 4096)).code).toBe('TWIN_ERR_PAYLOAD_TOO_LARGE')
  })

  it.each(['{', 'seq=1', "{'seq':1}", '{"seq":1,}', '\uFEFF{"seq":1}', ' ', 'undefined'])('refuses non-JSON %j', (text) => {
    const err = thrown(() => parsePayload(Buffer.from(text), 4096))
    expect(err.code).toBe('TWIN_ERR_PAYLOAD_NOT_JSON')
    expect(err.message).toMatch(/^payload is not valid JSON: \S/)
  })

  it.each([
    ['[1,2]', 'an array'],
    ['[]', 'an array'],
    ['null', 'null'],
    ['42', 'number'],
    ['-0.5', 'number'],
    ['"on"', 'string'],
    ['true', 'boolean'],
  ])('refuses the non-object %s', (text, what) => {
    const err = thrown(() => parsePayload(text, 4096))
    expect(err.code).toBe('TWIN_ERR_PAYLOAD_NOT_OBJECT')
    expect(err.message).toBe(`payload must be a JSON object, got ${what}`)
  })
})

describe('validateEvent', () => {
  it('accepts a valid event', () => {
    expect(() => validateEvent(counter, 'a-1', 'inc', { seq: 1 })).not.toThrow()
    expect(() => validateEvent(counter, 'a-1', 'disarm', {})).not.toThrow()
  })

  it.each(['a', 'A.b_c:d-e', '1', '...', 'x'.repeat(128), 'site:42.unit_7-b', '0123456789'])('accepts the id %j', (id) => {
    expect(() => validateEvent(counter, id, 'inc', { seq: 1 })).not.toThrow()
  })

  it.each([
    ['empty', ''],
    ['129 characters', 'x'.repeat(129)],
    ['a slash', 'a/b'],
    ['a plus', 'a+b'],
    ['a hash', 'a#'],
    ['unicode', 'zähler'],
    ['an emoji', 'c🙂'],
    ['a space', 'a b'],
    ['a leading space', ' a'],
    ['a trailing newline', 'a\n'],
    ['a pipe (the timer member separator)', 'a|b'],
    ['a NUL', 'a\u0000'],
  ])('refuses an id with %s', (_what, id) => {
    const err = thrown(() => validateEvent(counter, id, 'inc', { seq: 1 }))
    expect(err.code).toBe('TWIN_ERR_INVALID_ID')
    expect(err.message).toBe(`twin id "${truncate(id)}" is invalid: use 1-128 of A-Z a-z 0-9 . _ : -`)
  })

  it('keeps ID_PATTERN and the documented limit in step', () => {
    expect(ID_PATTERN.test('x'.repeat(128))).toBe(true)
    expect(ID_PATTERN.test('x'.repeat(129))).toBe(false)
  })

  it('cuts a long invalid id in the message', () => {
    const err = thrown(() => validateEvent(counter, 'y'.repeat(1000), 'inc', { seq: 1 }))
    expect(err.message).toBe(`twin id "${'y'.repeat(200)}…" is invalid: use 1-128 of A-Z a-z 0-9 . _ : -`)
  })

  it.each(['dec', 'Inc', 'constructor', '__proto__', 'toString', ''])('refuses the undeclared event %j and lists the declared ones', (event) => {
    const err = thrown(() => validateEvent(counter, 'a', event, {}))
    expect(err.code).toBe('TWIN_ERR_UNKNOWN_EVENT')
    expect(err.message).toBe(`twin type "counter" has no event "${event}"; it accepts: inc, arm, disarm, lock, blink, attributes, ack`)
  })

  it.each(['type', 'at'])('refuses the reserved field %j before the schema is checked', (field) => {
    const err = thrown(() => validateEvent(counter, 'a', 'inc', { seq: 1, [field]: 5 }))
    expect(err.code).toBe('TWIN_ERR_PAYLOAD_RESERVED_FIELD')
    expect(err.message).toBe(`payload field "${field}" is reserved by the engine; rename it`)
  })

  it('does not take a reserved name from a nested object or a __proto__ key', () => {
    expect(() => validateEvent(counter, 'a', 'inc', JSON.parse('{"seq":1,"__proto__":{"type":"x"}}'))).toThrow(
      expect.objectContaining({ code: 'TWIN_ERR_PAYLOAD_SCHEMA' }),
    )
  })

  it.each([
    ['a missing field', {}, "payload must have required property 'seq'"],
    ['a wrong type', { seq: 'one' }, 'payload/seq must be integer'],
    ['a value below the minimum', { seq: 0 }, 'payload/seq must be >= 1'],
    ['an extra field', { seq: 1, extra: true }, 'payload must NOT have additional properties'],
  ])('refuses a payload with %s, naming the problem', (_what, payload, text) => {
    const err = thrown(() => validateEvent(counter, 'a', 'inc', payload))
    expect(err.code).toBe('TWIN_ERR_PAYLOAD_SCHEMA')
    expect(err.message).toBe(`"inc" payload is invalid: ${text}`)
    expect(Array.isArray(err.details?.errors)).toBe(true)
  })

  it('checks the id first, then the event, then reserved fields, then the schema', () => {
    expect(thrown(() => validateEvent(counter, 'a b', 'nope', { at: 1 })).code).toBe('TWIN_ERR_INVALID_ID')
    expect(thrown(() => validateEvent(counter, 'a', 'nope', { at: 1 })).code).toBe('TWIN_ERR_UNKNOWN_EVENT')
    expect(thrown(() => validateEvent(counter, 'a', 'inc', { at: 1 })).code).toBe('TWIN_ERR_PAYLOAD_RESERVED_FIELD')
  })
})
