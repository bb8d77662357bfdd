import { assign, emit, enqueueActions, setup } from 'xstate'
import { defineTwin } from 'twin-engine/define'

/**
 * Doors left open this long (door-hold button, obstruction, a trolley in the
 * sill) raise `doorsHeldOpen`. Normal dwell is 3-10 s; one minute is the usual
 * nuisance threshold of lift monitoring systems.
 */
export const DOORS_HELD_OPEN_AFTER_MS = 60_000
/**
 * A trip without `arrived` for this long means the car is stuck between floors:
 * a 40-floor express run at 1.6 m/s takes about 75 s, plus margin.
 */
export const STUCK_AFTER_MS = 90_000
/** Controllers heartbeat every 30 s: four missed in a row (and no other message) means the link is down. */
export const OFFLINE_AFTER_MS = 120_000
/** Rated load of a common 13-person passenger lift (EN 81-20 table 6). */
export const DEFAULT_CAPACITY_KG = 1000

/** Timer id of the offline watchdog: re-arming under the same id replaces the pending timer. */
const OFFLINE_TIMER = 'offlineWatchdog'

const floor = { type: 'integer', minimum: -10, maximum: 200 }

/** Payload schemas of what a lift controller publishes. */
export const ELEVATOR_EVENTS = {
  heartbeat: { additionalProperties: false },
  moving: { properties: { fromFloor: floor, toFloor: floor }, required: ['fromFloor', 'toFloor'], additionalProperties: false },
  arrived: { properties: { floor }, required: ['floor'], additionalProperties: false },
  doorsOpened: { properties: { floor }, additionalProperties: false },
  doorsClosed: { additionalProperties: false },
  load: { properties: { kg: { type: 'number', minimum: 0, maximum: 20_000 } }, required: ['kg'], additionalProperties: false },
  fault: { properties: { code: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['code'], additionalProperties: false },
  faultCleared: { additionalProperties: false },
  serviceMode: { properties: { on: { type: 'boolean' } }, required: ['on'], additionalProperties: false },
}

export type Direction = 'up' | 'down' | 'none'

export interface ElevatorContext {
  id: string
  floor: number
  direction: Direction
  /** the trip in progress, null when the car is not travelling in normal service */
  trip: { fromFloor: number; toFloor: number; startedAt: number } | null
  trips: number
  loadKg: number
  capacityKg: number
  faultCode: string | null
  online: boolean
  /** engine time of the last message from the controller; null until the first one */
  lastSeenAt: number | null
}

type DeviceEvent =
  | { type: 'heartbeat' }
  | { type: 'moving'; fromFloor: number; toFloor: number }
  | { type: 'arrived'; floor: number }
  | { type: 'doorsOpened'; floor?: number }
  | { type: 'doorsClosed' }
  | { type: 'load'; kg: number }
  | { type: 'fault'; code: string }
  | { type: 'faultCleared' }
  | { type: 'serviceMode'; on: boolean }
/** Raised by the twin itself; device events cannot use this name (event names have no dots). */
type WatchdogEvent = { type: 'watchdog.offline' }
type ElevatorEvent = (DeviceEvent | WatchdogEvent) & { at: number }

/** Derived events; the engine stamps each with the time it was emitted. */
export type ElevatorDerivedEvent =
  | { type: 'online'; id: string; offlineForMs: number; floor: number }
  | { type: 'offline'; id: string; lastSeenAt: number | null; floor: number }
  | { type: 'overload'; id: string; floor: number; loadKg: number; capacityKg: number; refusedToFloor?: number | null }
  | { type: 'tripCompleted'; id: string; fromFloor: number; floor: number; requestedFloor: number; durationMs: number; loadKg: number; trips: number }
  | { type: 'faulted'; id: string; code: string; floor: number }
  | { type: 'stuck'; id: string; fromFloor: number; toFloor: number; movingForMs: number }
  | { type: 'doorsHeldOpen'; id: string; floor: number; openForMs: number }

// The engine stamps `at` when the timer fires (TwinDriver.fire).
const OFFLINE_WATCHDOG = { type: 'watchdog.offline' } as ElevatorEvent

const directionOf = (from: number, to: number): Direction => (to > from ? 'up' : to < from ? 'down' : 'none')

/*
 * Offline handling is a context flag (`online`) plus one self-addressed delayed
 * event, not a parallel region or an `after` on the car's states: the watchdog
 * must be re-armed by every message in every state, and re-entering a car state
 * to restart an `after` would also restart that state's own watchdogs (doors
 * held open, stuck). A flag also keeps the state value the plain car state
 * ('idle', 'moving', ...) that dashboards and rules match on. Every accepted
 * device event runs `seen`, which re-arms the watchdog; events the twin refuses
 * are dead-lettered by the engine and never reach it.
 */
const machine = setup({
  types: {} as { context: ElevatorContext; events: ElevatorEvent; emitted: ElevatorDerivedEvent; input: { type: string; id: string } },
  delays: {
    doorsHeldOpenAfter: DOORS_HELD_OPEN_AFTER_MS,
    stuckAfter: STUCK_AFTER_MS,
    offlineAfter: OFFLINE_AFTER_MS,
  },
  guards: {
    overloaded: ({ context }) => context.loadKg > context.capacityKg,
    serviceOn: ({ event }) => event.type === 'serviceMode' && event.on,
    serviceOff: ({ event }) => event.type === 'serviceMode' && !event.on,
  },
  actions: {
    armOfflineWatchdog: enqueueActions(({ enqueue }) => {
      enqueue.cancel(OFFLINE_TIMER)
      enqueue.raise(OFFLINE_WATCHDOG, { id: OFFLINE_TIMER, delay: 'offlineAfter' })
    }),
    seen: enqueueActions(({ context, event, enqueue }) => {
      if (!context.online) {
        enqueue.emit({ type: 'online', id: context.id, offlineForMs: event.at - (context.lastSeenAt ?? event.at), floor: context.floor })
      }
      enqueue.assign({ online: true, lastSeenAt: event.at })
      enqueue.cancel(OFFLINE_TIMER)
      enqueue.raise(OFFLINE_WATCHDOG, { id: OFFLINE_TIMER, delay: 'offlineAfter' })
    }),
    goOffline: enqueueActions(({ context, enqueue }) => {
      enqueue.emit({ type: 'offline', id: context.id, lastSeenAt: context.lastSeenAt, floor: context.floor })
      enqueue.assign({ online: false })
    }),
    recordLoad: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'load') return
      // Edge-triggered: one alarm when the load crosses the rated load, not one per reading.
      if (event.kg > context.capacityKg && context.loadKg <= context.capacityKg) {
        enqueue.emit({ type: 'overload', id: context.id, floor: context.floor, loadKg: event.kg, capacityKg: context.capacityKg })
      }
      enqueue.assign({ loadKg: event.kg })
    }),
    refuseOverloadedTrip: emit(({ context, event }) => ({
      type: 'overload',
      id: context.id,
      floor: context.floor,
      loadKg: context.loadKg,
      capacityKg: context.capacityKg,
      refusedToFloor: event.type === 'moving' ? event.toFloor : null,
    })),
    startTrip: assign(({ event }) => {
      if (event.type !== 'moving') return {}
      return {
        floor: event.fromFloor,
        direction: directionOf(event.fromFloor, event.toFloor),
        trip: { fromFloor: event.fromFloor, toFloor: event.toFloor, startedAt: event.at },
      }
    }),
    completeTrip: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'arrived') return
      const trip = context.trip
      enqueue.emit({
        type: 'tripCompleted',
        id: context.id,
        fromFloor: trip?.fromFloor ?? context.floor,
        floor: event.floor,
        requestedFloor: trip?.toFloor ?? event.floor,
        durationMs: trip ? event.at - trip.startedAt : 0,
        loadKg: context.loadKg,
        trips: context.trips + 1,
      })
      enqueue.assign({ floor: event.floor, direction: 'none', trip: null, trips: context.trips + 1 })
    }),
    /** Car movement outside normal service (inspection, rescue): tracks position, counts no trips. */
    trackMotion: assign(({ context, event }) => {
      if (event.type === 'moving') return { floor: event.fromFloor, direction: directionOf(event.fromFloor, event.toFloor) }
      if (event.type === 'arrived') return { floor: event.floor, direction: 'none' as const }
      if (event.type === 'doorsOpened' && event.floor !== undefined) return { floor: event.floor }
      return { floor: context.floor }
    }),
    recordFault: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'fault') return
      // A controller repeats its active fault; alarm once per distinct code.
      if (context.faultCode !== event.code) {
        enqueue.emit({ type: 'faulted', id: context.id, code: event.code, floor: context.floor })
      }
      enqueue.assign({ faultCode: event.code, direction: 'none', trip: null })
    }),
    markStuck: enqueueActions(({ context, event, enqueue }) => {
      const trip = context.trip
      enqueue.emit({
        type: 'stuck',
        id: context.id,
        fromFloor: trip?.fromFloor ?? context.floor,
        toFloor: trip?.toFloor ?? context.floor,
        movingForMs: trip ? event.at - trip.startedAt : STUCK_AFTER_MS,
      })
      enqueue.emit({ type: 'faulted', id: context.id, code: 'STUCK', floor: context.floor })
      enqueue.assign({ faultCode: 'STUCK', direction: 'none', trip: null })
    }),
    clearFault: assign({ faultCode: null }),
    emitDoorsHeldOpen: emit(({ context }) => ({
      type: 'doorsHeldOpen',
      id: context.id,
      floor: context.floor,
      openForMs: DOORS_HELD_OPEN_AFTER_MS,
    })),
  },
}).createMachine({
  id: 'elevator',
  context: ({ input }) => ({
    id: input.id,
    floor: 0,
    direction: 'none',
    trip: null,
    trips: 0,
    loadKg: 0,
    capacityKg: DEFAULT_CAPACITY_KG,
    faultCode: null,
    online: true,
    lastSeenAt: null,
  }),
  // A twin is created by its device's first message, so it starts online with the watchdog armed.
  entry: 'armOfflineWatchdog',
  initial: 'idle',
  // Routine messages, valid in every state unless a state handles them itself.
  on: {
    heartbeat: { actions: 'seen' },
    load: { actions: ['seen', 'recordLoad'] },
    // A controller re-reporting "service mode off" while in normal service is a no-op.
    serviceMode: { guard: 'serviceOff', actions: 'seen' },
    'watchdog.offline': { actions: 'goOffline' },
  },
  states: {
    idle: {
      on: {
        moving: [
          { guard: 'overloaded', actions: ['seen', 'refuseOverloadedTrip'] },
          { target: 'moving', actions: ['seen', 'startTrip'] },
        ],
        doorsOpened: { target: 'doorsOpen', actions: ['seen', 'trackMotion'] },
        // Door operators re-send "closed" after a nudge; harmless.
        doorsClosed: { actions: 'seen' },
        fault: { target: 'fault', actions: ['seen', 'recordFault'] },
        serviceMode: { guard: 'serviceOn', target: 'outOfService', actions: 'seen' },
      },
    },
    moving: {
      after: { stuckAfter: { target: 'fault', actions: 'markStuck' } },
      on: {
        arrived: { target: 'idle', actions: ['seen', 'completeTrip'] },
        fault: { target: 'fault', actions: ['seen', 'recordFault'] },
      },
    },
    doorsOpen: {
      // Fires once per opening; the doors stay open as far as the twin knows.
      after: { doorsHeldOpenAfter: { actions: 'emitDoorsHeldOpen' } },
      on: {
        // Re-opened by the button or the light curtain: the doors never closed, so the timer keeps running.
        doorsOpened: { actions: ['seen', 'trackMotion'] },
        doorsClosed: { target: 'idle', actions: 'seen' },
        fault: { target: 'fault', actions: ['seen', 'recordFault'] },
        serviceMode: { guard: 'serviceOn', target: 'outOfService', actions: 'seen' },
      },
    },
    outOfService: {
      // A technician drives the car: position is tracked, no trips, no watchdogs.
      on: {
        serviceMode: [
          { guard: 'serviceOn', actions: 'seen' },
          { target: 'idle', actions: ['seen', 'clearFault'] },
        ],
        moving: { actions: ['seen', 'trackMotion'] },
        arrived: { actions: ['seen', 'trackMotion'] },
        doorsOpened: { actions: ['seen', 'trackMotion'] },
        doorsClosed: { actions: 'seen' },
        fault: { target: 'fault', actions: ['seen', 'recordFault'] },
      },
    },
    fault: {
      // Latched until the controller clears it. A stuck car may still creep to a
      // landing and open its doors for a rescue: track it, stay faulted.
      on: {
        fault: { actions: ['seen', 'recordFault'] },
        faultCleared: { target: 'idle', actions: ['seen', 'clearFault'] },
        arrived: { actions: ['seen', 'trackMotion'] },
        doorsOpened: { actions: ['seen', 'trackMotion'] },
        doorsClosed: { actions: 'seen' },
        serviceMode: { guard: 'serviceOn', target: 'outOfService', actions: 'seen' },
      },
    },
  },
})

export default defineTwin({
  type: 'elevator',
  version: 1,
  description: 'Passenger lift: car state, position, trips, load, door and stuck watchdogs',
  events: ELEVATOR_EVENTS,
  // Counted live for the fleet (GET /twins/counts, the console's overview).
  indicators: { online: ({ context }) => context.online },
  machine,
})
