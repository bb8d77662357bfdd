import { describe, expect, it } from 'vitest'
import type { TwinDefinition } from '../../src/definitions/defineTwin.ts'
import { createDevice, DEVICE_TYPES, type DeviceMessage } from '../../src/demo/devices.ts'
import { isTwinError } from '../../src/errors.ts'
import { createTwinHarness, type TwinHarness } from '../../src/testing/twinHarness.ts'
import charger from '../../twins/charger.ts'
import elevator from '../../twins/elevator.ts'
import meter from '../../twins/meter.ts'
import { seeded } from '../support/seeded.ts'

const TWINS: Record<string, TwinDefinition> = { elevator, meter, charger }
const STEPS = 5_000

interface Run {
  t: TwinHarness
  messages: DeviceMessage[]
  /** when each message was sent */
  times: number[]
  accepted: number
  /** error code -> count */
  refused: Record<string, number>
  refusals: string[]
}

/** Drives one simulated device through its twin for STEPS messages, 1-8 s apart. */
function drive(type: string, seed: number): Run {
  const random = seeded(seed)
  const device = createDevice(type, `sim-${type}`, random)
  const t = createTwinHarness(TWINS[type]!, { id: device.id })
  const run: Run = { t, messages: [], times: [], accepted: 0, refused: {}, refusals: [] }
  for (let i = 0; i < STEPS; i++) {
    t.advance(1_000 + Math.floor(random() * 7_000))
    const message = device.next(t.clock.now())
    run.messages.push(message)
    run.times.push(t.clock.now())
    try {
      t.send(message.event, message.payload)
      run.accepted++
    } catch (err) {
      if (!isTwinError(err)) throw err
      run.refused[err.code] = (run.refused[err.code] ?? 0) + 1
      if (run.refusals.length < 5) run.refusals.push(`#${i} ${message.event} ${JSON.stringify(message.payload)} in ${JSON.stringify(t.state)}: ${err.message}`)
    }
  }
  return run
}

const count = (run: Run, type: string) => run.t.emitted.filter((e) => e.type === type).length

describe('simulated devices', () => {
  it('has one device type per twin', () => {
    expect(DEVICE_TYPES).toEqual(['elevator', 'meter', 'charger'])
    for (const type of DEVICE_TYPES) {
      const device = createDevice(type, 'd-1')
      expect(device.type).toBe(type)
      expect(device.id).toBe('d-1')
    }
    expect(() => createDevice('toaster', 'd-1')).toThrow(expect.objectContaining({ code: 'TWIN_ERR_UNKNOWN_TYPE' }))
  })

  it.each(DEVICE_TYPES)('%s replays exactly from the same seed', (type) => {
    const a = createDevice(type, 'x', seeded(7))
    const b = createDevice(type, 'x', seeded(7))
    const c = createDevice(type, 'x', seeded(8))
    const seq = (d: typeof a) => Array.from({ length: 200 }, (_, i) => d.next(1_000_000 + i * 5_000))
    const first = seq(a)
    expect(seq(b)).toEqual(first)
    expect(seq(c)).not.toEqual(first)
  })

  describe.each([1, 2, 3])('seed %i', (seed) => {
    it.each(DEVICE_TYPES)('every %s message passes the schema and (nearly) all are accepted', (type) => {
      const run = drive(type, seed)
      expect(run.refused.TWIN_ERR_PAYLOAD_SCHEMA ?? 0, run.refusals.join('\n')).toBe(0)
      expect(run.refused.TWIN_ERR_UNKNOWN_EVENT ?? 0, run.refusals.join('\n')).toBe(0)
      expect(run.accepted / STEPS, run.refusals.join('\n')).toBeGreaterThanOrEqual(0.99)
      // Sent often enough that the link never looks down.
      expect(count(run, 'offline')).toBe(0)
    })
  })

  it('an elevator cycles trips and doors, overloads, faults and is serviced', () => {
    const run = drive('elevator', 11)
    const events = new Set(run.messages.map((m) => m.event))
    expect([...events].sort()).toEqual(['arrived', 'doorsClosed', 'doorsOpened', 'fault', 'faultCleared', 'heartbeat', 'load', 'moving', 'serviceMode'])
    expect(count(run, 'tripCompleted')).toBeGreaterThan(300)
    expect(run.t.context.trips).toBe(count(run, 'tripCompleted'))
    expect(count(run, 'overload')).toBeGreaterThan(0)
    expect(count(run, 'faulted')).toBeGreaterThan(0)
    expect(count(run, 'stuck')).toBe(0) // trips are far shorter than stuckAfter
    for (const m of run.messages.filter((x) => x.event === 'moving')) expect(m.payload.fromFloor).not.toBe(m.payload.toFloor)
  })

  it('a meter register never runs backwards and the load now and then overruns the contract', () => {
    const run = drive('meter', 12)
    const energy = run.messages.map((m) => m.payload.energyKwh as number)
    expect(energy.every((e, i) => i === 0 || e >= energy[i - 1]!)).toBe(true)
    // The register integrates power: mean power from it lies between the base load and the peaks.
    const hours = (run.times[STEPS - 1]! - run.times[0]!) / 3.6e6
    const meanW = ((energy[energy.length - 1]! - energy[0]!) * 1000) / hours
    expect(meanW).toBeGreaterThan(250)
    expect(meanW).toBeLessThan(9_000)
    const above = run.messages.filter((m) => (m.payload.powerW as number) > 9_000).length
    expect(above / STEPS).toBeGreaterThan(0.01)
    expect(above / STEPS).toBeLessThan(0.5)
    expect(count(run, 'tamper')).toBe(0)
    expect(count(run, 'overconsumption')).toBeGreaterThan(0)
    expect(count(run, 'overconsumptionCleared')).toBeGreaterThanOrEqual(count(run, 'overconsumption') - 1)
    expect(run.t.context.consumedKwh).toBeCloseTo(energy[energy.length - 1]! - energy[0]!, 3)
  })

  it('a charger runs complete sessions with energy, pauses and faults', () => {
    const run = drive('charger', 13)
    const statuses = new Set(run.messages.filter((m) => m.event === 'statusNotification').map((m) => m.payload.status))
    expect([...statuses].sort()).toEqual(['Available', 'Charging', 'Faulted', 'Finishing', 'Preparing', 'SuspendedEV', 'SuspendedEVSE', 'Unavailable'])
    const completed = run.t.emitted.filter((e) => e.type === 'sessionCompleted') as unknown as Array<{ kWh: number; durationS: number }>
    expect(completed.length).toBeGreaterThan(10)
    expect(count(run, 'sessionStarted') - completed.length).toBeLessThanOrEqual(1) // at most one still open
    expect(completed.every((s) => s.kWh >= 0 && s.durationS > 0)).toBe(true)
    expect(completed.filter((s) => s.kWh > 0).length).toBeGreaterThan(completed.length / 2)
    expect(count(run, 'faulted')).toBeGreaterThan(0)
  })
})
