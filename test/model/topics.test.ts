import { describe, expect, it } from 'vitest'
import { TwinError } from '../../src/errors.ts'
import { DEFAULT_TOPIC_TEMPLATE, parseTopicTemplate } from '../../src/model/topics.ts'
import { thrown } from '../support/thrown.ts'

const levels = (topic: string) => topic.split('/')

describe('parseTopicTemplate: filters', () => {
  it('turns every placeholder of the default template into +', () => {
    const t = parseTopicTemplate(DEFAULT_TOPIC_TEMPLATE)
    expect(t.source).toBe('devices/{type}/{id}/{event}')
    expect(t.filter).toBe('devices/+/+/+')
  })

  it('keeps literal levels in place, wherever the placeholders are', () => {
    expect(parseTopicTemplate('site/a/{id}/telemetry/{event}', 'meter').filter).toBe('site/a/+/telemetry/+')
    expect(parseTopicTemplate('{event}/{id}', 'meter').filter).toBe('+/+')
    expect(parseTopicTemplate('{type}/x/{event}/{id}').filter).toBe('+/x/+/+')
  })
})

describe('parseTopicTemplate: matching', () => {
  const t = parseTopicTemplate(DEFAULT_TOPIC_TEMPLATE)

  it('extracts type, id and event from a matching topic', () => {
    expect(t.match(levels('devices/counter/a-1/inc'))).toEqual({ type: 'counter', id: 'a-1', event: 'inc' })
  })

  it('returns null for a different literal level', () => {
    expect(t.match(levels('device/counter/a-1/inc'))).toBeNull()
    expect(t.match(levels('Devices/counter/a-1/inc'))).toBeNull()
  })

  it('returns null for too few or too many levels', () => {
    expect(t.match(levels('devices/counter/inc'))).toBeNull()
    expect(t.match(levels('devices/counter/a-1/inc/extra'))).toBeNull()
    expect(t.match(levels('devices/counter/a-1/inc/'))).toBeNull()
    expect(t.match([])).toBeNull()
  })

  it('passes empty placeholder levels through for validation to refuse', () => {
    expect(t.match(levels('devices/counter//inc'))).toEqual({ type: 'counter', id: '', event: 'inc' })
  })

  it('fills the implied type when the template has no {type}', () => {
    const meter = parseTopicTemplate('plant/{id}/telemetry/{event}', 'meter')
    expect(meter.match(levels('plant/m-7/telemetry/reading'))).toEqual({ type: 'meter', id: 'm-7', event: 'reading' })
    expect(meter.match(levels('plant/m-7/status/reading'))).toBeNull()
  })

  it('matches placeholders in any order', () => {
    const t2 = parseTopicTemplate('{event}/of/{id}', 'lamp')
    expect(t2.match(levels('on/of/l-1'))).toEqual({ type: 'lamp', id: 'l-1', event: 'on' })
  })
})

describe('parseTopicTemplate: invalid templates', () => {
  const invalid: Array<[string, string | undefined, string]> = [
    ['', undefined, 'has an empty level'],
    ['devices//{id}/{event}', 'x', 'has an empty level'],
    ['/devices/{type}/{id}/{event}', undefined, 'has an empty level'],
    ['devices/{type}/{id}/{event}/', undefined, 'has an empty level'],
    ['devices/+/{id}/{event}', 'x', 'has an invalid level "+"'],
    ['devices/{type}/{id}/#', undefined, 'has an invalid level "#"'],
    ['devices/{kind}/{id}/{event}', undefined, 'has an invalid level "{kind}"'],
    ['devices/x{id}/{event}', 'x', 'has an invalid level "x{id}"'],
    ['devices/{id}}/{event}', 'x', 'has an invalid level "{id}}"'],
    ['devices/{type}/{event}', undefined, 'must contain {id} exactly once'],
    ['devices/{type}/{id}/{id}/{event}', undefined, 'must contain {id} exactly once'],
    ['devices/{type}/{id}', undefined, 'must contain {event} exactly once'],
    ['{event}/{type}/{id}/{event}', undefined, 'must contain {event} exactly once'],
    ['devices/{id}/{event}', undefined, 'must contain {type} once, or belong to one twin type'],
    ['{type}/{type}/{id}/{event}', undefined, 'must contain {type} once, or belong to one twin type'],
    ['{type}/{type}/{id}/{event}', 'counter', 'must contain {type} once, or belong to one twin type'],
  ]

  it.each(invalid)('refuses %j (implied type %j): %s', (source, impliedType, why) => {
    const err = thrown(() => parseTopicTemplate(source, impliedType))
    expect(err.code).toBe('TWIN_ERR_DEFINITION')
    expect(err.message).toBe(`topic template "${source}" ${why}`)
    expect(err.details).toEqual({ template: source })
  })
})
