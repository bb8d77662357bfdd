import { describe, expect, it } from 'vitest'
import { createTwinHarness } from '../../src/testing/twinHarness.ts'
import meter, { DEFAULT_LIMIT_W, OFFLINE_AFTER_MS, OVERCONSUMPTION_AFTER_MS } from '../../twins/meter.ts'

const types = (t: { emitted: Array<{ type: string }> }) => t.emitted.map((e) => e.type)

function start(id = 'mtr-1') {
  const t = createTwinHarness(meter, { id })
  return { t, t0: t.clock.now() }
}

/** Sends readings every `stepMs` at `powerW` for `durationMs`, starting one step from now. */
function readEvery(t: ReturnType<typeof start>['t'], energy: { kwh: number }, powerW: number, stepMs: number, durationMs: number) {
  for (let elapsed = stepMs; elapsed <= durationMs; elapsed += stepMs) {
    t.advance(stepMs)
    energy.kwh += (powerW * stepMs) / 3.6e9 // W x ms -> kWh
    t.send('reading', { energyKwh: energy.kwh, powerW })
  }
}

describe('meter twin', () => {
  it('declares its watchdog durations as named delays', () => {
    expect(meter.machine.implementations.delays).toEqual({ overconsumptionAfter: OVERCONSUMPTION_AFTER_MS, offlineAfter: OFFLINE_AFTER_MS })
  })

  it('starts within the default contract, online, with the offline watchdog armed', () => {
    const { t, t0 } = start()
    expect(t.state).toBe('withinLimit')
    expect(t.context).toMatchObject({ id: 'mtr-1', limitW: DEFAULT_LIMIT_W, lastEnergyKwh: null, consumedKwh: 0, readings: 0, online: true })
    expect(DEFAULT_LIMIT_W).toBe(9000)
    expect(t.timers).toEqual([{ id: 'offlineWatchdog', due: t0 + OFFLINE_AFTER_MS }])
  })

  it('totals consumption from register deltas', () => {
    const { t, t0 } = start()
    t.send('reading', { energyKwh: 1520.25, powerW: 800 })
    expect(t.context.consumedKwh).toBe(0) // the first reading is the baseline
    t.advance(60_000)
    t.send('reading', { energyKwh: 1520.4, powerW: 2400 })
    t.advance(60_000)
    t.send('reading', { energyKwh: 1520.75, powerW: -1200 }) // exporting: power negative, register unchanged direction
    expect(t.context).toMatchObject({ lastEnergyKwh: 1520.75, lastPowerW: -1200, lastReadingAt: t0 + 120_000, consumedKwh: 0.5, readings: 3, tamperCount: 0 })
    expect(t.state).toBe('withinLimit')
    expect(t.emitted).toEqual([])
  })

  describe('overconsumption', () => {
    it('fires when power stays above the limit for overconsumptionAfter, then clears', () => {
      const { t, t0 } = start()
      const energy = { kwh: 100 }
      t.send('reading', { energyKwh: energy.kwh, powerW: 9000 }) // at the limit is within it
      expect(t.state).toBe('withinLimit')
      t.send('reading', { energyKwh: energy.kwh, powerW: 9400 })
      expect(t.state).toBe('aboveLimit')
      // Readings that stay above must not restart the timer.
      readEvery(t, energy, 11_000, 10_000, OVERCONSUMPTION_AFTER_MS - 10_000)
      t.advance(9_999)
      expect(t.state).toBe('aboveLimit')
      expect(t.emitted).toEqual([])
      t.advance(1)
      expect(t.state).toBe('overconsumption')
      expect(t.emitted).toEqual([
        { type: 'overconsumption', id: 'mtr-1', powerW: 11_000, limitW: 9000, aboveSince: t0, peakPowerW: 11_000, at: t0 + OVERCONSUMPTION_AFTER_MS },
      ])
      t.advance(30_000)
      t.send('reading', { energyKwh: energy.kwh + 0.1, powerW: 12_500 })
      t.advance(10_000)
      t.send('reading', { energyKwh: energy.kwh + 0.2, powerW: 3_000 })
      expect(t.state).toBe('withinLimit')
      expect(t.emitted[1]).toEqual({
        type: 'overconsumptionCleared',
        id: 'mtr-1',
        powerW: 3000,
        limitW: 9000,
        durationMs: OVERCONSUMPTION_AFTER_MS + 40_000,
        peakPowerW: 12_500,
        at: t0 + OVERCONSUMPTION_AFTER_MS + 40_000,
      })
      expect(t.context).toMatchObject({ aboveSince: null, peakPowerW: null })
    })

    it('is cancelled by a drop before overconsumptionAfter, and a new excursion starts from zero', () => {
      const { t } = start()
      t.send('reading', { energyKwh: 5, powerW: 9600 })
      t.advance(OVERCONSUMPTION_AFTER_MS - 1)
      t.send('reading', { energyKwh: 5.3, powerW: 4000 })
      expect(t.state).toBe('withinLimit')
      expect(t.timers.map((x) => x.id)).toEqual(['offlineWatchdog'])
      t.advance(OVERCONSUMPTION_AFTER_MS)
      expect(t.emitted).toEqual([])
      t.send('reading', { energyKwh: 5.5, powerW: 9600 })
      const again = t.clock.now()
      t.advance(OVERCONSUMPTION_AFTER_MS - 1)
      expect(t.state).toBe('aboveLimit')
      t.advance(1)
      expect(t.emitted.map((e) => [e.type, e.at])).toEqual([['overconsumption', again + OVERCONSUMPTION_AFTER_MS]])
    })

    it('a lower contract puts a running load over the limit; a higher one clears it', () => {
      const { t, t0 } = start()
      t.send('reading', { energyKwh: 10, powerW: 5200 })
      t.send('contract', { limitW: 4600 })
      expect(t.state).toBe('aboveLimit')
      expect(t.context).toMatchObject({ limitW: 4600, aboveSince: t0, peakPowerW: 5200 })
      t.advance(OVERCONSUMPTION_AFTER_MS)
      expect(t.state).toBe('overconsumption')
      t.send('contract', { limitW: 6900 })
      expect(t.state).toBe('withinLimit')
      expect(types(t)).toEqual(['overconsumption', 'overconsumptionCleared'])
      expect(t.emitted[1]).toMatchObject({ limitW: 6900, powerW: 5200, durationMs: OVERCONSUMPTION_AFTER_MS })
    })

    it('raising the contract during the grace period cancels the timer without an alarm', () => {
      const { t } = start()
      t.send('reading', { energyKwh: 10, powerW: 9800 })
      t.advance(60_000)
      t.send('contract', { limitW: 10_350 })
      expect(t.state).toBe('withinLimit')
      t.advance(OVERCONSUMPTION_AFTER_MS)
      expect(t.emitted).toEqual([])
    })
  })

  describe('tamper', () => {
    it('reports a register that runs backwards once, then rebases on it', () => {
      const { t } = start()
      t.send('reading', { energyKwh: 3000.5, powerW: 500 })
      t.send('reading', { energyKwh: 3001, powerW: 500 })
      t.send('reading', { energyKwh: 12.25, powerW: 500 })
      expect(t.emitted).toEqual([{ type: 'tamper', id: 'mtr-1', previousKwh: 3001, energyKwh: 12.25, deltaKwh: -2988.75, at: t.clock.now() }])
      t.send('reading', { energyKwh: 12.5, powerW: 500 })
      expect(types(t)).toEqual(['tamper'])
      expect(t.context).toMatchObject({ tamperCount: 1, consumedKwh: 0.75, lastEnergyKwh: 12.5 })
    })

    it('an unchanged register is not tamper', () => {
      const { t } = start()
      t.send('reading', { energyKwh: 42, powerW: 0 })
      t.send('reading', { energyKwh: 42, powerW: 0 })
      expect(t.emitted).toEqual([])
    })
  })

  describe('offline watchdog', () => {
    it('goes offline when readings stop for offlineAfter, online with the next reading', () => {
      const { t, t0 } = start()
      t.send('reading', { energyKwh: 1, powerW: 100 })
      t.advance(OFFLINE_AFTER_MS - 1)
      expect(t.context.online).toBe(true)
      t.advance(1)
      expect(t.emitted).toEqual([{ type: 'offline', id: 'mtr-1', lastReadingAt: t0, lastEnergyKwh: 1, at: t0 + OFFLINE_AFTER_MS }])
      expect(t.context.online).toBe(false)
      t.advance(OFFLINE_AFTER_MS * 4) // no repeated alarms
      expect(types(t)).toEqual(['offline'])
      t.send('reading', { energyKwh: 1.5, powerW: 100 })
      expect(t.emitted[1]).toEqual({ type: 'online', id: 'mtr-1', offlineForMs: OFFLINE_AFTER_MS * 5, at: t0 + OFFLINE_AFTER_MS * 5 })
      expect(t.context).toMatchObject({ online: true, consumedKwh: 0.5 })
    })

    it('is re-armed by every reading but not by a contract change', () => {
      const { t, t0 } = start()
      const energy = { kwh: 0 }
      readEvery(t, energy, 300, 60_000, 10 * 60_000)
      expect(types(t)).toEqual([])
      const last = t0 + 10 * 60_000
      expect(t.timers).toEqual([{ id: 'offlineWatchdog', due: last + OFFLINE_AFTER_MS }])
      t.advance(OFFLINE_AFTER_MS - 1)
      t.send('contract', { limitW: 6000 })
      t.advance(1)
      expect(types(t)).toEqual(['offline'])
    })
  })

  describe('rejects what the engine dead-letters', () => {
    it.each([
      ['reading', { energyKwh: 10 }],
      ['reading', { powerW: 10 }],
      ['reading', { energyKwh: -1, powerW: 10 }],
      ['reading', { energyKwh: '10', powerW: 10 }],
      ['reading', { energyKwh: 10, powerW: 10, voltageV: 230 }],
      ['contract', { limitW: 0 }],
      ['contract', {}],
    ])('%s %j fails the schema', (event, payload) => {
      const { t } = start()
      expect(() => t.send(event, payload)).toThrow(expect.objectContaining({ code: 'TWIN_ERR_PAYLOAD_SCHEMA' }))
      expect(t.rev).toBe(0)
    })

    it('unknown and internal events', () => {
      const { t } = start()
      expect(() => t.send('heartbeat')).toThrow(expect.objectContaining({ code: 'TWIN_ERR_UNKNOWN_EVENT' }))
      expect(() => t.send('watchdog.offline')).toThrow(expect.objectContaining({ code: 'TWIN_ERR_UNKNOWN_EVENT' }))
    })
  })
})
