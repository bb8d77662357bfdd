import { assign, emit, enqueueActions, setup } from 'xstate'
import { defineTwin } from 'twin-engine/define'

/**
 * Power must stay above the contracted limit this long to count as
 * overconsumption: kettles and motor inrush spike above it for seconds, and a
 * limiter (ICP) trips on minutes, not on spikes.
 */
export const OVERCONSUMPTION_AFTER_MS = 120_000
/** Meters report every 10-60 s; five minutes without a reading means the meter or its gateway is down. */
export const OFFLINE_AFTER_MS = 300_000
/** A common residential contract (9 kW / 9.2 kVA); the back office sets the real one with `contract`. */
export const DEFAULT_LIMIT_W = 9000

/** Timer id of the offline watchdog: re-arming under the same id replaces the pending timer. */
const OFFLINE_TIMER = 'offlineWatchdog'

/** Payload schemas. */
export const METER_EVENTS = {
  // energyKwh is the import register (monotonic); powerW is negative while exporting (PV).
  reading: {
    properties: {
      energyKwh: { type: 'number', minimum: 0, maximum: 1e9 },
      powerW: { type: 'number', minimum: -1e6, maximum: 1e6 },
    },
    required: ['energyKwh', 'powerW'],
    additionalProperties: false,
  },
  // From the utility back office, not from the meter.
  contract: {
    properties: { limitW: { type: 'number', exclusiveMinimum: 0, maximum: 1e6 } },
    required: ['limitW'],
    additionalProperties: false,
  },
}

export interface MeterContext {
  id: string
  limitW: number
  lastEnergyKwh: number | null
  lastPowerW: number | null
  lastReadingAt: number | null
  /** energy counted from positive register deltas since the twin was created */
  consumedKwh: number
  readings: number
  tamperCount: number
  /** start of the current excursion above the limit, null when within it */
  aboveSince: number | null
  /** highest power of the current excursion */
  peakPowerW: number | null
  online: boolean
}

type DeviceEvent = { type: 'reading'; energyKwh: number; powerW: number } | { type: 'contract'; limitW: number }
type WatchdogEvent = { type: 'watchdog.offline' }
type MeterEvent = (DeviceEvent | WatchdogEvent) & { at: number }

/** Derived events; the engine stamps each with the time it was emitted. */
export type MeterDerivedEvent =
  | { type: 'overconsumption'; id: string; powerW: number; limitW: number; aboveSince: number; peakPowerW: number }
  | { type: 'overconsumptionCleared'; id: string; powerW: number; limitW: number; durationMs: number; peakPowerW: number }
  | { type: 'tamper'; id: string; previousKwh: number; energyKwh: number; deltaKwh: number }
  | { type: 'offline'; id: string; lastReadingAt: number | null; lastEnergyKwh: number | null }
  | { type: 'online'; id: string; offlineForMs: number }

// The engine stamps `at` when the timer fires (TwinDriver.fire).
const OFFLINE_WATCHDOG = { type: 'watchdog.offline' } as MeterEvent

/** Rounds away float noise from register subtraction (the register has 3 decimals). */
const kwh = (value: number): number => Math.round(value * 1000) / 1000

/*
 * States say where power stands against the contract: `withinLimit`,
 * `aboveLimit` (over it, not yet for long: the `overconsumptionAfter` timer is
 * running and is cancelled by leaving the state) and `overconsumption`.
 * Guards run before actions, so they compare the incoming value with the
 * context as it was: a reading's power with the current limit, a contract's
 * new limit with the last power.
 *
 * Offline is a context flag and one self-addressed delayed event re-armed by
 * every reading (see twins/elevator.ts for why not an `after`). A `contract`
 * comes from the back office, so it says nothing about the meter being alive.
 */
const machine = setup({
  types: {} as { context: MeterContext; events: MeterEvent; emitted: MeterDerivedEvent; input: { type: string; id: string } },
  delays: {
    overconsumptionAfter: OVERCONSUMPTION_AFTER_MS,
    offlineAfter: OFFLINE_AFTER_MS,
  },
  guards: {
    overLimit: ({ context, event }) => {
      if (event.type === 'reading') return event.powerW > context.limitW
      if (event.type === 'contract') return context.lastPowerW !== null && context.lastPowerW > event.limitW
      return false
    },
  },
  actions: {
    armOfflineWatchdog: enqueueActions(({ enqueue }) => {
      enqueue.cancel(OFFLINE_TIMER)
      enqueue.raise(OFFLINE_WATCHDOG, { id: OFFLINE_TIMER, delay: 'offlineAfter' })
    }),
    recordReading: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'reading') return
      if (!context.online) {
        enqueue.emit({ type: 'online', id: context.id, offlineForMs: event.at - (context.lastReadingAt ?? event.at) })
      }
      const previous = context.lastEnergyKwh
      let consumedKwh = context.consumedKwh
      let tamperCount = context.tamperCount
      if (previous !== null && event.energyKwh < previous) {
        // An import register never runs backwards: a swapped, reset or manipulated meter.
        // Rebase on the new value so that one event reports it, not every later reading.
        enqueue.emit({ type: 'tamper', id: context.id, previousKwh: previous, energyKwh: event.energyKwh, deltaKwh: kwh(event.energyKwh - previous) })
        tamperCount += 1
      } else if (previous !== null) {
        consumedKwh = kwh(consumedKwh + event.energyKwh - previous)
      }
      enqueue.assign({
        lastEnergyKwh: event.energyKwh,
        lastPowerW: event.powerW,
        lastReadingAt: event.at,
        consumedKwh,
        tamperCount,
        readings: context.readings + 1,
        online: true,
      })
      enqueue.cancel(OFFLINE_TIMER)
      enqueue.raise(OFFLINE_WATCHDOG, { id: OFFLINE_TIMER, delay: 'offlineAfter' })
    }),
    setContract: assign(({ context, event }) => ({ limitW: event.type === 'contract' ? event.limitW : context.limitW })),
    startExcursion: assign(({ context, event }) => ({
      aboveSince: event.at,
      peakPowerW: event.type === 'reading' ? event.powerW : context.lastPowerW,
    })),
    trackPeak: assign(({ context, event }) => ({
      peakPowerW: event.type === 'reading' ? Math.max(context.peakPowerW ?? event.powerW, event.powerW) : context.peakPowerW,
    })),
    endExcursion: assign({ aboveSince: null, peakPowerW: null }),
    emitOverconsumption: emit(({ context }) => ({
      type: 'overconsumption',
      id: context.id,
      powerW: context.lastPowerW ?? 0,
      limitW: context.limitW,
      aboveSince: context.aboveSince ?? 0,
      peakPowerW: context.peakPowerW ?? context.lastPowerW ?? 0,
    })),
    // Runs after recordReading/setContract, so it reports the value that cleared it.
    emitCleared: emit(({ context, event }) => ({
      type: 'overconsumptionCleared',
      id: context.id,
      powerW: context.lastPowerW ?? 0,
      limitW: context.limitW,
      durationMs: event.at - (context.aboveSince ?? event.at),
      peakPowerW: context.peakPowerW ?? 0,
    })),
    goOffline: enqueueActions(({ context, enqueue }) => {
      enqueue.emit({ type: 'offline', id: context.id, lastReadingAt: context.lastReadingAt, lastEnergyKwh: context.lastEnergyKwh })
      enqueue.assign({ online: false })
    }),
  },
}).createMachine({
  id: 'meter',
  context: ({ input }) => ({
    id: input.id,
    limitW: DEFAULT_LIMIT_W,
    lastEnergyKwh: null,
    lastPowerW: null,
    lastReadingAt: null,
    consumedKwh: 0,
    readings: 0,
    tamperCount: 0,
    aboveSince: null,
    peakPowerW: null,
    online: true,
  }),
  // A twin is created by its meter's first message, so it starts online with the watchdog armed.
  entry: 'armOfflineWatchdog',
  initial: 'withinLimit',
  on: {
    'watchdog.offline': { actions: 'goOffline' },
  },
  states: {
    withinLimit: {
      on: {
        reading: [
          { guard: 'overLimit', target: 'aboveLimit', actions: ['recordReading', 'startExcursion'] },
          { actions: 'recordReading' },
        ],
        contract: [
          { guard: 'overLimit', target: 'aboveLimit', actions: ['setContract', 'startExcursion'] },
          { actions: 'setContract' },
        ],
      },
    },
    aboveLimit: {
      after: { overconsumptionAfter: { target: 'overconsumption', actions: 'emitOverconsumption' } },
      on: {
        reading: [
          // Targetless: staying above keeps the running timer.
          { guard: 'overLimit', actions: ['recordReading', 'trackPeak'] },
          { target: 'withinLimit', actions: ['recordReading', 'endExcursion'] },
        ],
        contract: [
          { guard: 'overLimit', actions: 'setContract' },
          { target: 'withinLimit', actions: ['setContract', 'endExcursion'] },
        ],
      },
    },
    overconsumption: {
      on: {
        reading: [
          { guard: 'overLimit', actions: ['recordReading', 'trackPeak'] },
          { target: 'withinLimit', actions: ['recordReading', 'emitCleared', 'endExcursion'] },
        ],
        contract: [
          { guard: 'overLimit', actions: 'setContract' },
          { target: 'withinLimit', actions: ['setContract', 'emitCleared', 'endExcursion'] },
        ],
      },
    },
  },
})

export default defineTwin({
  type: 'meter',
  version: 1,
  description: 'Electricity meter: consumption totals, sustained overconsumption against the contract, tamper and offline detection',
  events: METER_EVENTS,
  // Counted live for the fleet (GET /twins/counts, the console's overview).
  indicators: { online: ({ context }) => context.online },
  machine,
})
