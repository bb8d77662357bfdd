import { describe, expect, it } from 'vitest'
import { createRuleHarness, type RuleHarness } from '../../src/testing/ruleHarness.ts'
import rule, { WITHOUT_ELEVATOR_AFTER_MS } from '../../rules/building-elevator-availability.ts'

const B = 'b1'

/** A state change of elevator `id` as the engine feeds it (its twin after the step). */
function change(h: RuleHarness, id: string, state: string, o: { online?: boolean; building?: string } = {}) {
  return h.feedChange('elevator', id, { value: state, context: { id, online: o.online ?? true }, attributes: { building: o.building ?? B } })
}
function offline(h: RuleHarness, id: string, state = 'idle') {
  return h.feedEvent('elevator', id, 'offline', { id, lastSeenAt: 0, floor: 0 }, { value: state, context: { id, online: false } })
}
function online(h: RuleHarness, id: string, state = 'idle') {
  return h.feedEvent('elevator', id, 'online', { id, offlineForMs: 1, floor: 0 }, { value: state, context: { id, online: true } })
}

/** A building with elevators e1..en, all idle and online. */
function building(n = 3): RuleHarness {
  const h = createRuleHarness(rule, { group: B })
  for (let i = 1; i <= n; i++) change(h, `e${i}`, 'idle')
  return h
}

describe('building-elevator-availability', () => {
  it('starts with no elevators and raises nothing for an empty building', () => {
    const h = createRuleHarness(rule, { group: B })
    expect(h.state).toBe('noElevators')
    expect(h.context).toEqual({ building: B, elevators: {}, since: null })
    h.advance(10 * WITHOUT_ELEVATOR_AFTER_MS)
    expect(h.emitted).toEqual([])
  })

  it('tracks elevators as they join, in service or not', () => {
    const h = building(2)
    change(h, 'e3', 'fault')
    expect(h.state).toBe('inService')
    expect(h.context.elevators).toEqual({
      e1: { state: 'idle', online: true },
      e2: { state: 'idle', online: true },
      e3: { state: 'fault', online: true },
    })
  })

  it('emits buildingWithoutElevator once, 60 s after the last lift left service, and clears when one returns', () => {
    const h = building(3)
    const t0 = h.clock.now()
    change(h, 'e1', 'fault')
    change(h, 'e2', 'outOfService')
    h.advance(30_000)
    offline(h, 'e3', 'idle') // idle but unreachable: not in service
    const since = h.clock.now()
    expect(h.state).toBe('noneInService')
    expect(h.timers.map((t) => t.due)).toEqual([since + WITHOUT_ELEVATOR_AFTER_MS])
    h.advance(WITHOUT_ELEVATOR_AFTER_MS - 1)
    expect(h.emitted).toEqual([])
    h.advance(1)
    expect(h.state).toBe('withoutElevator')
    expect(h.emitted).toEqual([
      {
        type: 'buildingWithoutElevator',
        building: B,
        since,
        elevators: { e1: { state: 'fault', online: true }, e2: { state: 'outOfService', online: true }, e3: { state: 'idle', online: false } },
        at: since + WITHOUT_ELEVATOR_AFTER_MS,
      },
    ])
    // More bad news does not repeat the alarm.
    change(h, 'e1', 'outOfService')
    h.advance(10 * WITHOUT_ELEVATOR_AFTER_MS)
    expect(h.emittedTypes).toEqual(['buildingWithoutElevator'])

    const back = h.clock.now()
    change(h, 'e2', 'idle')
    expect(h.state).toBe('inService')
    expect(h.emitted[1]).toEqual({
      type: 'elevatorServiceRestored',
      building: B,
      since,
      durationMs: back - since,
      reason: 'inService',
      elevatorId: 'e2',
      at: back,
    })
    expect(h.context.since).toBeNull()
    expect(t0).toBeLessThan(since)
  })

  it('cancels the timer when a lift returns within 60 s: no alarm, no clear', () => {
    const h = building(1)
    change(h, 'e1', 'fault')
    h.advance(59_000)
    change(h, 'e1', 'idle')
    expect(h.state).toBe('inService')
    expect(h.timers).toEqual([])
    h.advance(10 * WITHOUT_ELEVATOR_AFTER_MS)
    expect(h.emitted).toEqual([])
  })

  it('an elevator coming back online counts as returning to service', () => {
    const h = building(1)
    offline(h, 'e1')
    h.advance(WITHOUT_ELEVATOR_AFTER_MS)
    expect(h.emittedTypes).toEqual(['buildingWithoutElevator'])
    online(h, 'e1')
    expect(h.emittedTypes).toEqual(['buildingWithoutElevator', 'elevatorServiceRestored'])
    expect(h.emitted[1]).toMatchObject({ reason: 'inService', elevatorId: 'e1' })
  })

  it('a lift that comes back online still in fault is not in service', () => {
    const h = building(1)
    change(h, 'e1', 'fault')
    offline(h, 'e1', 'fault')
    online(h, 'e1', 'fault')
    h.advance(WITHOUT_ELEVATOR_AFTER_MS)
    expect(h.emittedTypes).toEqual(['buildingWithoutElevator'])
  })

  it('moving and doorsOpen are in service', () => {
    const h = building(2)
    change(h, 'e1', 'moving')
    change(h, 'e2', 'fault')
    change(h, 'e1', 'doorsOpen')
    h.advance(5 * WITHOUT_ELEVATOR_AFTER_MS)
    expect(h.state).toBe('inService')
    expect(h.emitted).toEqual([])
  })

  it('a flapping lift restarts the 60 s each time it is briefly back', () => {
    const h = building(1)
    for (let i = 0; i < 5; i++) {
      change(h, 'e1', 'fault')
      h.advance(50_000)
      change(h, 'e1', 'idle')
      h.advance(2_000)
    }
    expect(h.emitted).toEqual([])
    change(h, 'e1', 'fault')
    h.advance(WITHOUT_ELEVATOR_AFTER_MS)
    expect(h.emittedTypes).toEqual(['buildingWithoutElevator'])
    // After the alarm, each return clears and each 60 s outage raises again: one pair per real outage.
    change(h, 'e1', 'idle')
    change(h, 'e1', 'fault')
    h.advance(30_000)
    change(h, 'e1', 'idle')
    expect(h.emittedTypes).toEqual(['buildingWithoutElevator', 'elevatorServiceRestored'])
  })

  it('duplicate feeds change nothing', () => {
    const h = building(2)
    change(h, 'e1', 'fault')
    change(h, 'e2', 'fault')
    const timers = h.timers
    h.advance(20_000)
    // Redelivered as is (routing would filter an unchanged state value).
    const again = { type: 'elevator.changed', twinId: 'e2', value: 'fault', context: { online: true }, attributes: { building: B } }
    h.feed(again)
    h.feed(again)
    offline(h, 'e2', 'fault')
    offline(h, 'e2', 'fault')
    expect(h.timers).toEqual(timers)
    h.advance(40_000)
    expect(h.emittedTypes).toEqual(['buildingWithoutElevator'])
  })

  it('routing: an unchanged state value is not fed again, a new state is', () => {
    const h = building(1)
    const rev = h.rev
    expect(change(h, 'e1', 'idle')).toBeNull()
    expect(h.rev).toBe(rev)
    expect(change(h, 'e1', 'moving')).not.toBeNull()
  })

  it('an elevator leaving the building is forgotten, and may leave the building without any', () => {
    const h = building(2)
    change(h, 'e1', 'fault')
    change(h, 'e2', 'idle', { building: 'b2' }) // moved in the asset register
    expect(Object.keys(h.context.elevators)).toEqual(['e1'])
    expect(h.state).toBe('noneInService')
    h.advance(WITHOUT_ELEVATOR_AFTER_MS)
    expect(h.emittedTypes).toEqual(['buildingWithoutElevator'])
    // Feeds of the other building are not delivered here.
    expect(change(h, 'e2', 'moving', { building: 'b2' })).toBeNull()
    expect(h.context.elevators.e2).toBeUndefined()
  })

  it('when the last elevator leaves during an alarm, it clears with reason noElevators', () => {
    const h = building(1)
    change(h, 'e1', 'fault')
    h.advance(WITHOUT_ELEVATOR_AFTER_MS)
    change(h, 'e1', 'fault', { building: 'b9' })
    expect(h.state).toBe('noElevators')
    expect(h.emitted[1]).toMatchObject({ type: 'elevatorServiceRestored', reason: 'noElevators', elevatorId: null })
    expect(h.timers).toEqual([])
  })

  it('an elevator without the building attribute is forgotten (feed delivered by hand: routing would not)', () => {
    const h = building(2)
    h.feed({ type: 'elevator.changed', twinId: 'e2', value: 'idle', context: { online: true }, attributes: {} })
    expect(Object.keys(h.context.elevators)).toEqual(['e1'])
  })

  it('an offline event from an elevator never seen adds it as offline', () => {
    const h = building(1)
    offline(h, 'e7', 'idle')
    expect(h.context.elevators.e7).toEqual({ state: 'idle', online: false })
    expect(h.state).toBe('inService')
  })

  it('keeps a plain-JSON context (it is stored) and one timer', () => {
    const h = building(1)
    change(h, 'e1', 'fault')
    expect(JSON.parse(JSON.stringify(h.context))).toEqual(h.context)
    expect(h.timers).toHaveLength(1)
  })

  it('refuses feeds the engine would never route', () => {
    const h = building(1)
    expect(() => h.feedChange('meter', 'm1', { value: 'withinLimit' })).toThrow(expect.objectContaining({ code: 'TWIN_ERR_UNKNOWN_TYPE' }))
    expect(() => h.feedEvent('elevator', 'e1', 'tripCompleted', {})).toThrow(expect.objectContaining({ code: 'TWIN_ERR_UNKNOWN_EVENT' }))
  })
})
