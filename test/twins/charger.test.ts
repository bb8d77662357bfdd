import { describe, expect, it } from 'vitest'
import { createTwinHarness } from '../../src/testing/twinHarness.ts'
import charger, { OFFLINE_AFTER_MS, STATUSES, TRANSITIONS, type Status } from '../../twins/charger.ts'

const types = (t: { emitted: Array<{ type: string }> }) => t.emitted.map((e) => e.type)

function start(status?: Status, id = 'cp-042') {
  const t = createTwinHarness(charger, { id })
  // The first report puts a new twin in any status.
  if (status) t.send('statusNotification', { status })
  t.emitted.length = 0
  return { t, t0: t.clock.now() }
}

describe('charger twin', () => {
  it('declares its watchdog duration as a named delay', () => {
    expect(charger.machine.implementations.delays).toEqual({ offlineAfter: OFFLINE_AFTER_MS })
  })

  it('starts Unavailable until the first report, which may be any status', () => {
    const { t, t0 } = start()
    expect(t.state).toBe('Unavailable')
    expect(t.context).toMatchObject({ statusKnown: false, transaction: null, sessions: 0, online: true })
    expect(t.timers).toEqual([{ id: 'offlineWatchdog', due: t0 + OFFLINE_AFTER_MS }])
    t.send('statusNotification', { status: 'Finishing' }) // not an OCPP transition from Unavailable
    expect(t.state).toBe('Finishing')
    expect(t.context.statusKnown).toBe(true)
  })

  it('follows a charging session and reports its energy and duration', () => {
    const { t, t0 } = start('Available')
    t.send('statusNotification', { status: 'Preparing' })
    t.clock.advance(20_000)
    t.send('startTransaction', { transactionId: 7781, meterStartWh: 1_204_330, idTag: 'RFID04A1B2' })
    expect(t.emitted).toEqual([{ type: 'sessionStarted', id: 'cp-042', transactionId: 7781, idTag: 'RFID04A1B2', meterStartWh: 1_204_330, at: t0 + 20_000 }])
    t.send('statusNotification', { status: 'Charging' })
    t.clock.advance(15 * 60_000)
    t.send('meterValues', { energyWh: 1_206_080, powerW: 7_000 })
    expect(t.context).toMatchObject({ sessionWh: 1_750, meterWh: 1_206_080, powerW: 7_000 })
    t.send('statusNotification', { status: 'SuspendedEV' }) // the car paused: battery conditioning
    t.clock.advance(5 * 60_000)
    t.send('meterValues', { energyWh: 1_206_080 })
    expect(t.context.powerW).toBe(7_000) // last known power kept when not reported
    t.send('statusNotification', { status: 'Charging' })
    t.clock.advance(40 * 60_000)
    t.send('stopTransaction', { transactionId: 7781, meterStopWh: 1_210_957, reason: 'EVDisconnected' })
    t.send('statusNotification', { status: 'Finishing' })
    t.send('statusNotification', { status: 'Available' })
    expect(t.state).toBe('Available')
    expect(t.emitted[1]).toEqual({
      type: 'sessionCompleted',
      id: 'cp-042',
      transactionId: 7781,
      idTag: 'RFID04A1B2',
      kWh: 6.627,
      durationS: 3600,
      reason: 'EVDisconnected',
      at: t0 + 20_000 + 60 * 60_000,
    })
    expect(t.context).toMatchObject({ transaction: null, sessionWh: 0, sessions: 1, deliveredKwh: 6.627, meterWh: 1_210_957 })
  })

  it('a session may stop after Finishing, or once the cable is pulled; reason defaults to Local', () => {
    const { t } = start('Available')
    t.send('startTransaction', { transactionId: 1, meterStartWh: 0 }) // plug and charge: no Preparing
    t.send('statusNotification', { status: 'Charging' })
    t.send('statusNotification', { status: 'Finishing' })
    t.send('statusNotification', { status: 'Available' })
    t.send('stopTransaction', { meterStopWh: 2_500 })
    expect(t.emitted[1]).toMatchObject({ type: 'sessionCompleted', transactionId: 1, idTag: null, kWh: 2.5, durationS: 0, reason: 'Local' })
  })

  describe('OCPP 1.6 status transitions', () => {
    const cases = STATUSES.flatMap((from) => STATUSES.filter((to) => to !== from).map((to) => [from, to, TRANSITIONS[from].includes(to)] as const))

    it('covers the spec table', () => {
      expect(cases.filter(([, , ok]) => ok)).toHaveLength(47) // §4.9 without the transitions to and from Reserved
      expect(TRANSITIONS.Available).not.toContain('Finishing')
      expect(TRANSITIONS.Finishing).not.toContain('Charging')
    })

    it.each(cases)('%s -> %s allowed: %s', (from, to, allowed) => {
      const { t } = start(from)
      if (allowed) {
        t.send('statusNotification', { status: to })
        expect(t.state).toBe(to)
      } else {
        expect(() => t.send('statusNotification', { status: to })).toThrow(expect.objectContaining({ code: 'TWIN_ERR_EVENT_NOT_ACCEPTED' }))
        expect(t.state).toBe(from)
      }
    })

    it('accepts the same status again (after a reconnect) and records its errorCode', () => {
      const { t } = start('Charging')
      t.send('statusNotification', { status: 'Charging', errorCode: 'WeakSignal', info: 'RSSI -97' })
      expect(t.state).toBe('Charging')
      expect(t.context.errorCode).toBe('WeakSignal')
      expect(t.emitted).toEqual([])
      t.send('statusNotification', { status: 'Charging' })
      expect(t.context.errorCode).toBe('NoError')
    })
  })

  describe('faults', () => {
    it('emits faulted with the error and the interrupted transaction', () => {
      const { t } = start('Charging')
      t.send('startTransaction', { transactionId: 55, meterStartWh: 100 })
      t.emitted.length = 0
      t.send('statusNotification', { status: 'Faulted', errorCode: 'GroundFailure', info: 'RCD tripped', vendorErrorCode: 'E-RCD-30' })
      expect(t.state).toBe('Faulted')
      expect(t.emitted).toEqual([
        { type: 'faulted', id: 'cp-042', errorCode: 'GroundFailure', info: 'RCD tripped', vendorErrorCode: 'E-RCD-30', transactionId: 55, at: t.clock.now() },
      ])
      t.send('statusNotification', { status: 'Faulted', errorCode: 'GroundFailure' }) // repeated: no new alarm
      t.send('statusNotification', { status: 'Faulted', errorCode: 'HighTemperature' })
      expect(t.emitted.map((e) => (e as { errorCode?: string }).errorCode)).toEqual(['GroundFailure', 'HighTemperature'])
      t.send('stopTransaction', { transactionId: 55, meterStopWh: 900, reason: 'Other' })
      t.send('statusNotification', { status: 'Available', errorCode: 'NoError' })
      expect(t.state).toBe('Available')
      expect(types(t)).toEqual(['faulted', 'faulted', 'sessionCompleted'])
    })

    it('a Faulted report without errorCode is OtherError', () => {
      const { t } = start('Available')
      t.send('statusNotification', { status: 'Faulted' })
      expect(t.emitted).toMatchObject([{ type: 'faulted', errorCode: 'OtherError', info: null, transactionId: null }])
    })
  })

  describe('transactions', () => {
    it('a redelivered startTransaction is a no-op; a second one while open is refused', () => {
      const { t } = start('Preparing')
      t.send('startTransaction', { transactionId: 9, meterStartWh: 10 })
      t.send('startTransaction', { transactionId: 9, meterStartWh: 10 })
      expect(types(t)).toEqual(['sessionStarted'])
      expect(() => t.send('startTransaction', { transactionId: 10, meterStartWh: 10 })).toThrow(expect.objectContaining({ code: 'TWIN_ERR_EVENT_NOT_ACCEPTED' }))
      expect(t.context.transaction).toMatchObject({ id: 9 })
    })

    it('refuses a stop for another or no transaction', () => {
      const { t } = start('Charging')
      expect(() => t.send('stopTransaction', { meterStopWh: 5 })).toThrow(expect.objectContaining({ code: 'TWIN_ERR_EVENT_NOT_ACCEPTED' }))
      t.send('startTransaction', { transactionId: 3, meterStartWh: 0 })
      expect(() => t.send('stopTransaction', { transactionId: 4, meterStopWh: 5 })).toThrow(expect.objectContaining({ code: 'TWIN_ERR_EVENT_NOT_ACCEPTED' }))
      t.send('stopTransaction', { transactionId: 3, meterStopWh: 5 })
      expect(t.context.sessions).toBe(1)
    })

    it.each(['Finishing', 'Faulted', 'Unavailable'] as const)('refuses to start a transaction while %s', (status) => {
      const { t } = start(status)
      expect(() => t.send('startTransaction', { transactionId: 1, meterStartWh: 0 })).toThrow(expect.objectContaining({ code: 'TWIN_ERR_EVENT_NOT_ACCEPTED' }))
    })

    it('never reports negative energy when the meter was replaced mid-session', () => {
      const { t } = start('Charging')
      t.send('startTransaction', { transactionId: 2, meterStartWh: 50_000 })
      t.send('meterValues', { energyWh: 120 })
      expect(t.context.sessionWh).toBe(0)
      t.send('stopTransaction', { meterStopWh: 300 })
      expect(t.emitted[1]).toMatchObject({ type: 'sessionCompleted', kWh: 0 })
    })
  })

  describe('offline watchdog', () => {
    it('goes offline after offlineAfter without any message and online on the next', () => {
      const { t, t0 } = start('Available')
      t.advance(OFFLINE_AFTER_MS - 1)
      t.send('heartbeat')
      t.advance(OFFLINE_AFTER_MS - 1)
      expect(types(t)).toEqual([])
      t.advance(1)
      expect(t.emitted).toEqual([{ type: 'offline', id: 'cp-042', lastSeenAt: t0 + OFFLINE_AFTER_MS - 1, at: t0 + 2 * OFFLINE_AFTER_MS - 1 }])
      expect(t.context.online).toBe(false)
      t.advance(60_000)
      t.send('meterValues', { energyWh: 10 })
      expect(t.emitted[1]).toEqual({ type: 'online', id: 'cp-042', offlineForMs: OFFLINE_AFTER_MS + 60_000, at: t.clock.now() })
      expect(t.timers).toEqual([{ id: 'offlineWatchdog', due: t.clock.now() + OFFLINE_AFTER_MS }])
    })

    it('after a gap the charger is the truth: any status is accepted to resynchronise', () => {
      const { t } = start('Finishing')
      t.advance(OFFLINE_AFTER_MS)
      t.send('statusNotification', { status: 'Charging' }) // Finishing -> Charging is not in the table
      expect(t.state).toBe('Charging')
      expect(types(t)).toEqual(['offline', 'online'])
      t.send('statusNotification', { status: 'Finishing' })
      expect(() => t.send('statusNotification', { status: 'Charging' })).toThrow(expect.objectContaining({ code: 'TWIN_ERR_EVENT_NOT_ACCEPTED' }))
    })
  })

  describe('rejects what the engine dead-letters', () => {
    it.each([
      ['statusNotification', { status: 'Reserved' }],
      ['statusNotification', { status: 'charging' }],
      ['statusNotification', { status: 'Faulted', errorCode: 'Boom' }],
      ['statusNotification', { status: 'Available', info: 'x'.repeat(51) }],
      ['startTransaction', { transactionId: '7', meterStartWh: 0 }],
      ['startTransaction', { transactionId: 7, meterStartWh: -1 }],
      ['startTransaction', { transactionId: 7, meterStartWh: 0.5 }],
      ['startTransaction', { transactionId: 7, meterStartWh: 0, idTag: 'x'.repeat(21) }],
      ['startTransaction', { meterStartWh: 0 }],
      ['meterValues', { energyWh: -3 }],
      ['meterValues', { powerW: 100 }],
      ['stopTransaction', { transactionId: 7 }],
      ['stopTransaction', { meterStopWh: 10, reason: 'Bored' }],
      ['heartbeat', { seq: 1 }],
    ])('%s %j fails the schema', (event, payload) => {
      const { t } = start()
      expect(() => t.send(event, payload)).toThrow(expect.objectContaining({ code: 'TWIN_ERR_PAYLOAD_SCHEMA' }))
      expect(t.rev).toBe(0)
    })

    it('unknown and internal events', () => {
      const { t } = start()
      expect(() => t.send('bootNotification', {})).toThrow(expect.objectContaining({ code: 'TWIN_ERR_UNKNOWN_EVENT' }))
      expect(() => t.send('watchdog.offline', {})).toThrow(expect.objectContaining({ code: 'TWIN_ERR_UNKNOWN_EVENT' }))
    })
  })
})
