import { assign, emit, setup } from 'xstate'
import { defineRule, type RuleFeedEvent } from 'twin-engine/define'

/**
 * A building with no lift in service for this long raises
 * `buildingWithoutElevator`. Sixty seconds rides out a car being reset or a
 * controller reboot (the threshold) while still being minutes before
 * residents who depend on a lift start calling.
 */
export const WITHOUT_ELEVATOR_AFTER_MS = 60_000

/** The attribute that places an elevator in a building (`devices/elevator/{id}/attributes` `{"building":"b1"}`). */
export const GROUP_ATTRIBUTE = 'building'

/** Car states in which a lift carries passengers; `fault` and `outOfService` do not. */
export const IN_SERVICE_STATES: readonly string[] = ['idle', 'moving', 'doorsOpen']

/** One elevator as the rule tracks it. */
export interface TrackedElevator {
  /** its twin's state value */
  state: string
  online: boolean
}

export interface BuildingContext {
  building: string
  /** elevator twin id -> status; tens per building */
  elevators: Record<string, TrackedElevator>
  /** start of the current stretch without any lift in service; null while one is */
  since: number | null
}

export type BuildingDerivedEvent =
  | {
      type: 'buildingWithoutElevator'
      building: string
      /** when the last lift left service */
      since: number
      /** every tracked elevator and why it is not in service */
      elevators: Record<string, TrackedElevator>
    }
  | {
      type: 'elevatorServiceRestored'
      building: string
      since: number
      /** how long the building was without a lift */
      durationMs: number
      /** 'inService': a lift returned (elevatorId); 'noElevators': no elevator is tracked in the building any more */
      reason: 'inService' | 'noElevators'
      elevatorId: string | null
    }

const inService = (e: TrackedElevator): boolean => e.online && IN_SERVICE_STATES.includes(e.state)
const anyInService = (c: BuildingContext): boolean => Object.values(c.elevators).some(inService)
const noneTracked = (c: BuildingContext): boolean => Object.keys(c.elevators).length === 0

/*
 * Every feed (a state change, or an online/offline event) carries the whole
 * source twin, so one action keeps the map current whatever the feed is, and
 * duplicates or repeats are harmless. The states then follow from the map
 * through eventless transitions:
 *
 *   noElevators -> inService <-> noneInService --60 s--> withoutElevator
 *
 * The 60 s is an `after` (a durable engine timer), cancelled by leaving
 * `noneInService`; while there, more feeds that leave no lift in service are
 * targetless and keep it running.
 */
const machine = setup({
  types: {} as {
    context: BuildingContext
    events: RuleFeedEvent
    emitted: BuildingDerivedEvent
    input: { type: string; id: string }
  },
  delays: { withoutElevatorAfter: WITHOUT_ELEVATOR_AFTER_MS },
  guards: {
    anyInService: ({ context }) => anyInService(context),
    noneTracked: ({ context }) => noneTracked(context),
    someTracked: ({ context }) => !noneTracked(context),
  },
  actions: {
    track: assign(({ context, event }) => {
      const elevators = { ...context.elevators }
      // An elevator moved to another building (or lost its attribute) is forgotten.
      if (event.attributes?.[GROUP_ATTRIBUTE] !== context.building) delete elevators[event.twinId]
      else elevators[event.twinId] = { state: stateName(event.value), online: event.context?.online !== false }
      return { elevators }
    }),
    startOutage: assign(({ event }) => ({ since: (event as { at: number }).at })),
    endOutage: assign({ since: null }),
    emitWithout: emit(({ context }) => ({
      type: 'buildingWithoutElevator' as const,
      building: context.building,
      since: context.since ?? 0,
      elevators: context.elevators,
    })),
    emitRestored: emit(({ context, event }, params: { reason: 'inService' | 'noElevators' }) => ({
      type: 'elevatorServiceRestored' as const,
      building: context.building,
      since: context.since ?? 0,
      durationMs: (event as { at: number }).at - (context.since ?? 0),
      reason: params.reason,
      elevatorId: params.reason === 'inService' ? (event as RuleFeedEvent).twinId : null,
    })),
  },
}).createMachine({
  id: 'building-elevator-availability',
  context: ({ input }) => ({ building: input.id, elevators: {}, since: null }),
  initial: 'noElevators',
  on: { 'elevator.*': { actions: 'track' } },
  states: {
    noElevators: {
      always: [
        { guard: 'anyInService', target: 'inService' },
        { guard: 'someTracked', target: 'noneInService' },
      ],
    },
    inService: {
      always: [
        { guard: 'noneTracked', target: 'noElevators' },
        { guard: ({ context }) => !anyInService(context), target: 'noneInService' },
      ],
    },
    noneInService: {
      entry: 'startOutage',
      after: { withoutElevatorAfter: 'withoutElevator' },
      always: [
        { guard: 'anyInService', target: 'inService', actions: 'endOutage' },
        { guard: 'noneTracked', target: 'noElevators', actions: 'endOutage' },
      ],
    },
    withoutElevator: {
      entry: 'emitWithout',
      always: [
        { guard: 'anyInService', target: 'inService', actions: [{ type: 'emitRestored', params: { reason: 'inService' } }, 'endOutage'] },
        { guard: 'noneTracked', target: 'noElevators', actions: [{ type: 'emitRestored', params: { reason: 'noElevators' } }, 'endOutage'] },
      ],
    },
  },
})

/** A twin's state value as a name: elevators have flat states; a nested one is shown as its JSON. */
function stateName(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value)
}

export default defineRule({
  name: 'building-elevator-availability',
  version: 1,
  description: 'Per building: raises buildingWithoutElevator when no elevator has been in service for more than 60 s, clears it when one returns',
  inputs: [{ twin: 'elevator', changes: 'state', events: ['online', 'offline'], groupBy: GROUP_ATTRIBUTE }],
  machine,
})
