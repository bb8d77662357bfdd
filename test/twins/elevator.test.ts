import { describe, expect, it } from 'vitest'
import { createTwinHarness } from '../../src/testing/twinHarness.ts'
import elevator, { DEFAULT_CAPACITY_KG, DOORS_HELD_OPEN_AFTER_MS, OFFLINE_AFTER_MS, STUCK_AFTER_MS } from '../../twins/elevator.ts'

const types = (t: { emitted: Array<{ type: string }> }) => t.emitted.map((e) => e.type)

function start(id = 'lift-A') {
  const t = createTwinHarness(elevator, { id })
  return { t, t0: t.clock.now() }
}

describe('elevator twin', () => {
  it('declares its watchdog durations as named delays', () => {
    expect(elevator.machine.implementations.delays).toEqual({
      doorsHeldOpenAfter: DOORS_HELD_OPEN_AFTER_MS,
      stuckAfter: STUCK_AFTER_MS,
      offlineAfter: OFFLINE_AFTER_MS,
    })
  })

  it('starts idle at the ground floor, online, with the offline watchdog armed', () => {
    const { t, t0 } = start()
    expect(t.state).toBe('idle')
    expect(t.context).toMatchObject({ id: 'lift-A', floor: 0, direction: 'none', trips: 0, loadKg: 0, capacityKg: DEFAULT_CAPACITY_KG, online: true, lastSeenAt: null })
    expect(t.timers).toEqual([{ id: 'offlineWatchdog', due: t0 + OFFLINE_AFTER_MS }])
  })

  it('follows a passenger trip: doors, load, travel, arrival', () => {
    const { t, t0 } = start()
    t.send('doorsOpened', { floor: 0 })
    expect(t.state).toBe('doorsOpen')
    t.send('load', { kg: 240 })
    t.clock.advance(4_000)
    t.send('doorsClosed')
    expect(t.state).toBe('idle')
    t.clock.advance(1_000)
    t.send('moving', { fromFloor: 0, toFloor: 7 })
    expect(t.state).toBe('moving')
    expect(t.context.direction).toBe('up')
    t.clock.advance(14_000)
    t.send('arrived', { floor: 7 })
    expect(t.state).toBe('idle')
    expect(t.context).toMatchObject({ floor: 7, direction: 'none', trips: 1, trip: null, loadKg: 240, lastSeenAt: t0 + 19_000 })
    expect(t.emitted).toEqual([
      { type: 'tripCompleted', id: 'lift-A', fromFloor: 0, floor: 7, requestedFloor: 7, durationMs: 14_000, loadKg: 240, trips: 1, at: t0 + 19_000 },
    ])
    t.send('moving', { fromFloor: 7, toFloor: 2 })
    expect(t.context.direction).toBe('down')
    t.send('arrived', { floor: 4 }) // stopped on the way for a hall call
    expect(t.emitted[1]).toMatchObject({ type: 'tripCompleted', fromFloor: 7, floor: 4, requestedFloor: 2, trips: 2 })
    expect(t.context.floor).toBe(4)
  })

  describe('overload guard', () => {
    it('raises overload once when the load crosses the rated load', () => {
      const { t } = start()
      t.send('doorsOpened')
      t.send('load', { kg: 1000 }) // exactly rated load is allowed
      expect(t.emitted).toEqual([])
      t.send('load', { kg: 1080 })
      t.send('load', { kg: 1150 })
      expect(t.emitted).toEqual([{ type: 'overload', id: 'lift-A', floor: 0, loadKg: 1080, capacityKg: 1000, at: t.clock.now() }])
    })

    it('refuses to start a trip while overloaded and lets it go once unloaded', () => {
      const { t } = start()
      t.send('load', { kg: 1200 })
      t.emitted.length = 0
      t.send('moving', { fromFloor: 0, toFloor: 3 })
      expect(t.state).toBe('idle')
      expect(t.context.trip).toBeNull()
      expect(t.emitted).toEqual([
        { type: 'overload', id: 'lift-A', floor: 0, loadKg: 1200, capacityKg: 1000, refusedToFloor: 3, at: t.clock.now() },
      ])
      t.send('load', { kg: 900 })
      t.send('moving', { fromFloor: 0, toFloor: 3 })
      expect(t.state).toBe('moving')
    })
  })

  describe('stuck watchdog', () => {
    it('faults the car when it travels for stuckAfter without arriving', () => {
      const { t, t0 } = start()
      t.send('moving', { fromFloor: 2, toFloor: 9 })
      t.advance(STUCK_AFTER_MS - 1)
      expect(t.state).toBe('moving')
      t.advance(1)
      expect(t.state).toBe('fault')
      expect(t.context).toMatchObject({ faultCode: 'STUCK', direction: 'none', trip: null, floor: 2 })
      expect(t.emitted).toEqual([
        { type: 'stuck', id: 'lift-A', fromFloor: 2, toFloor: 9, movingForMs: STUCK_AFTER_MS, at: t0 + STUCK_AFTER_MS },
        { type: 'faulted', id: 'lift-A', code: 'STUCK', floor: 2, at: t0 + STUCK_AFTER_MS },
      ])
    })

    it('does not fire when the car arrives in time, nor on a later trip', () => {
      const { t } = start()
      t.send('moving', { fromFloor: 0, toFloor: 30 })
      t.advance(STUCK_AFTER_MS - 1)
      t.send('arrived', { floor: 30 })
      expect(t.timers.map((x) => x.id)).toEqual(['offlineWatchdog'])
      t.send('moving', { fromFloor: 30, toFloor: 0 })
      t.advance(STUCK_AFTER_MS - 1)
      expect(t.state).toBe('moving')
      expect(types(t)).not.toContain('stuck')
    })

    it('a stuck car that creeps to a landing stays faulted until cleared', () => {
      const { t } = start()
      t.send('moving', { fromFloor: 2, toFloor: 9 })
      t.advance(STUCK_AFTER_MS)
      t.send('arrived', { floor: 3 })
      t.send('doorsOpened')
      expect(t.state).toBe('fault')
      expect(t.context.floor).toBe(3)
      expect(t.context.trips).toBe(0)
      t.send('faultCleared')
      expect(t.state).toBe('idle')
      expect(t.context.faultCode).toBeNull()
    })
  })

  describe('doors held open watchdog', () => {
    it('emits doorsHeldOpen once, after doorsHeldOpenAfter, and stays doorsOpen', () => {
      const { t, t0 } = start()
      t.send('doorsOpened', { floor: 0 })
      t.advance(DOORS_HELD_OPEN_AFTER_MS - 1)
      expect(t.emitted).toEqual([])
      t.advance(1)
      expect(t.emitted).toEqual([{ type: 'doorsHeldOpen', id: 'lift-A', floor: 0, openForMs: DOORS_HELD_OPEN_AFTER_MS, at: t0 + DOORS_HELD_OPEN_AFTER_MS }])
      t.send('heartbeat') // keeps the link up, not the doors
      t.advance(DOORS_HELD_OPEN_AFTER_MS * 3)
      expect(types(t).filter((x) => x === 'doorsHeldOpen')).toHaveLength(1)
      expect(t.state).toBe('doorsOpen')
    })

    it('is cancelled when the doors close in time and re-armed by the next opening', () => {
      const { t, t0 } = start()
      t.send('doorsOpened')
      t.advance(DOORS_HELD_OPEN_AFTER_MS - 1)
      t.send('doorsClosed')
      t.advance(DOORS_HELD_OPEN_AFTER_MS)
      expect(t.emitted).toEqual([])
      t.send('doorsOpened')
      const reopened = t.clock.now()
      t.advance(DOORS_HELD_OPEN_AFTER_MS)
      expect(t.emitted.map((e) => [e.type, e.at])).toEqual([['doorsHeldOpen', reopened + DOORS_HELD_OPEN_AFTER_MS]])
      expect(reopened).toBe(t0 + 2 * DOORS_HELD_OPEN_AFTER_MS - 1)
    })

    it('a re-open while open does not restart the timer: the doors never closed', () => {
      const { t, t0 } = start()
      t.send('doorsOpened')
      t.advance(30_000)
      t.send('doorsOpened')
      t.advance(DOORS_HELD_OPEN_AFTER_MS - 30_000)
      expect(t.emitted.map((e) => [e.type, e.at])).toEqual([['doorsHeldOpen', t0 + DOORS_HELD_OPEN_AFTER_MS]])
    })
  })

  describe('offline watchdog', () => {
    it('goes offline after offlineAfter without any message, and online on the next one', () => {
      const { t, t0 } = start()
      t.send('heartbeat')
      t.advance(OFFLINE_AFTER_MS - 1)
      expect(t.context.online).toBe(true)
      t.advance(1)
      expect(t.context.online).toBe(false)
      expect(t.state).toBe('idle')
      expect(t.emitted).toEqual([{ type: 'offline', id: 'lift-A', lastSeenAt: t0, floor: 0, at: t0 + OFFLINE_AFTER_MS }])
      expect(t.timers).toEqual([])
      t.advance(45_000)
      t.send('heartbeat')
      expect(t.context.online).toBe(true)
      expect(t.emitted[1]).toEqual({ type: 'online', id: 'lift-A', offlineForMs: OFFLINE_AFTER_MS + 45_000, floor: 0, at: t0 + OFFLINE_AFTER_MS + 45_000 })
      expect(t.timers).toEqual([{ id: 'offlineWatchdog', due: t.clock.now() + OFFLINE_AFTER_MS }])
    })

    it('is re-armed by every accepted message, whatever its kind', () => {
      const { t, t0 } = start()
      t.advance(OFFLINE_AFTER_MS - 1)
      t.send('load', { kg: 80 })
      t.advance(OFFLINE_AFTER_MS - 1)
      t.send('doorsOpened')
      t.advance(OFFLINE_AFTER_MS - 1)
      expect(types(t)).not.toContain('offline')
      expect(t.timers.find((x) => x.id === 'offlineWatchdog')).toEqual({ id: 'offlineWatchdog', due: t0 + 3 * OFFLINE_AFTER_MS - 2 })
      t.advance(1)
      expect(types(t)).toContain('offline')
    })

    it('keeps the car state while offline: a trip can complete when the link returns', () => {
      const { t } = start()
      t.send('moving', { fromFloor: 0, toFloor: 1 })
      t.advance(OFFLINE_AFTER_MS) // stuck fires first (90 s), then offline (120 s)
      expect(types(t)).toEqual(['stuck', 'faulted', 'offline'])
      t.send('arrived', { floor: 1 })
      expect(types(t)).toEqual(['stuck', 'faulted', 'offline', 'online'])
      expect(t.state).toBe('fault')
    })
  })

  describe('faults', () => {
    it('latches a fault, alarms once per distinct code, clears to idle', () => {
      const { t } = start()
      t.send('doorsOpened')
      t.send('fault', { code: 'E42_DOOR_LOCK' })
      expect(t.state).toBe('fault')
      t.send('fault', { code: 'E42_DOOR_LOCK' })
      t.send('fault', { code: 'E07_OVERSPEED' })
      expect(t.emitted.map((e) => (e as { code?: string }).code)).toEqual(['E42_DOOR_LOCK', 'E07_OVERSPEED'])
      expect(t.context.faultCode).toBe('E07_OVERSPEED')
      t.send('faultCleared')
      expect(t.state).toBe('idle')
      expect(t.context.faultCode).toBeNull()
    })

    it('a fault during a trip ends the trip without counting it', () => {
      const { t } = start()
      t.send('moving', { fromFloor: 0, toFloor: 4 })
      t.send('fault', { code: 'E12' })
      expect(t.context).toMatchObject({ trip: null, direction: 'none', trips: 0 })
      t.advance(STUCK_AFTER_MS)
      expect(types(t)).toEqual(['faulted']) // the stuck watchdog was cancelled on leaving moving
    })
  })

  describe('service mode', () => {
    it('takes the car out of service, tracks inspection runs without counting trips, and returns it', () => {
      const { t } = start()
      t.send('serviceMode', { on: true })
      expect(t.state).toBe('outOfService')
      t.send('serviceMode', { on: true })
      t.send('moving', { fromFloor: 0, toFloor: 12 })
      t.advance(STUCK_AFTER_MS + 10_000) // inspection speed is slow: no stuck watchdog
      t.send('arrived', { floor: 12 })
      expect(t.context).toMatchObject({ floor: 12, trips: 0, direction: 'none' })
      expect(types(t)).toEqual([])
      t.send('serviceMode', { on: false })
      expect(t.state).toBe('idle')
    })

    it('a technician can take over a faulted car; service end clears the fault', () => {
      const { t } = start()
      t.send('fault', { code: 'E99' })
      t.send('serviceMode', { on: true })
      expect(t.state).toBe('outOfService')
      t.send('serviceMode', { on: false })
      expect(t.state).toBe('idle')
      expect(t.context.faultCode).toBeNull()
    })

    it('accepts a repeated "off" in normal service as a no-op', () => {
      const { t } = start()
      const rev = t.rev
      t.send('serviceMode', { on: false })
      expect(t.state).toBe('idle')
      expect(t.rev).toBe(rev + 1)
    })
  })

  describe('rejects what the engine dead-letters', () => {
    it.each([
      ['moving', { fromFloor: 1 }],
      ['moving', { fromFloor: 1, toFloor: 2.5 }],
      ['moving', { fromFloor: 1, toFloor: 500 }],
      ['arrived', { floor: '3' }],
      ['load', { kg: -5 }],
      ['load', { kg: 10, unit: 'lb' }],
      ['fault', { code: '' }],
      ['serviceMode', { on: 'yes' }],
      ['heartbeat', { uptime: 5 }],
    ])('%s %j fails the schema', (event, payload) => {
      const { t } = start()
      expect(() => t.send(event, payload)).toThrow(expect.objectContaining({ code: 'TWIN_ERR_PAYLOAD_SCHEMA' }))
      expect(t.rev).toBe(0)
    })

    it('unknown events, reserved fields and internal events', () => {
      const { t } = start()
      expect(() => t.send('teleport', {})).toThrow(expect.objectContaining({ code: 'TWIN_ERR_UNKNOWN_EVENT' }))
      expect(() => t.send('watchdog.offline', {})).toThrow(expect.objectContaining({ code: 'TWIN_ERR_UNKNOWN_EVENT' }))
      expect(() => t.send('arrived', { floor: 1, at: 5 })).toThrow(expect.objectContaining({ code: 'TWIN_ERR_PAYLOAD_RESERVED_FIELD' }))
    })

    it('events that make no sense in the current state', () => {
      const { t } = start()
      expect(() => t.send('arrived', { floor: 3 })).toThrow(expect.objectContaining({ code: 'TWIN_ERR_EVENT_NOT_ACCEPTED' }))
      expect(() => t.send('faultCleared')).toThrow(expect.objectContaining({ code: 'TWIN_ERR_EVENT_NOT_ACCEPTED' }))
      t.send('doorsOpened')
      expect(() => t.send('moving', { fromFloor: 0, toFloor: 1 })).toThrow(expect.objectContaining({ code: 'TWIN_ERR_EVENT_NOT_ACCEPTED' }))
      t.send('doorsClosed')
      t.send('moving', { fromFloor: 0, toFloor: 1 })
      expect(() => t.send('serviceMode', { on: true })).toThrow(expect.objectContaining({ code: 'TWIN_ERR_EVENT_NOT_ACCEPTED' }))
      expect(() => t.send('doorsOpened')).toThrow(expect.objectContaining({ code: 'TWIN_ERR_EVENT_NOT_ACCEPTED' }))
      expect(t.state).toBe('moving')
    })
  })
})
