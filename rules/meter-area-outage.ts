import { assign, emit, setup } from 'xstate'
import { defineRule, type RuleFeedEvent } from 'twin-engine/define'
import type { MeterContext } from '../twins/meter.ts'

/** Meters that went offline within this window count towards an outage (the issue: "within 5 minutes"). */
export const WINDOW_MS = 300_000
/** More than this share of an area's meters going dark inside the window suggests a grid outage, not meter faults. */
export const OUTAGE_RATIO = 0.3
/**
 * At least this many meters must be dark: in an area of three meters one
 * offline meter is 33 %, and one meter is a meter (or gateway) problem.
 */
export const MIN_OFFLINE = 2
/** Meter ids listed in `suspectedOutage`; an area can hold thousands, the event stays small. */
export const LISTED_METERS = 50

/** The attribute that places a meter in an area (`devices/meter/{id}/attributes` `{"area":"a1"}`). */
export const GROUP_ATTRIBUTE = 'area'

/** Marks a meter that was already offline when it joined: dark, but not inside any window. */
const OFFLINE_BEFORE_JOINING = 1

export interface AreaContext {
  area: string
  /**
   * Ids of the meters known in the area, sorted (binary search). An area holds
   * up to a few thousand: arrays copy in microseconds where a spread of a
   * 3000-key object takes ~3 ms (measured), and each step copies what it changes.
   */
  meters: string[]
  /** the meters offline now: [id, engine time it went offline], in the order they went */
  offline: Array<[string, number]>
  /** engine time of the feed being handled (guards compare the window with it) */
  now: number
  /** when suspectedOutage was emitted; null when not in outage */
  outageSince: number | null
}

export type AreaDerivedEvent =
  | {
      type: 'suspectedOutage'
      area: string
      /** meters that went offline within the window */
      offline: number
      /** meters known in the area */
      total: number
      /** offline / total, 3 decimals */
      ratio: number
      /** when the first of them went offline */
      since: number
      /** up to LISTED_METERS of them */
      meters: string[]
    }
  | {
      type: 'suspectedOutageCleared'
      area: string
      /** meters still offline */
      offline: number
      total: number
      ratio: number
      /** when suspectedOutage was emitted */
      since: number
      durationMs: number
    }

const total = (c: AreaContext): number => c.meters.length
/** The meters that went offline inside the window ending at `c.now`, earliest first. */
function recentlyOffline(c: AreaContext): Array<[string, number]> {
  const from = c.now - WINDOW_MS
  return c.offline.filter(([, at]) => at >= from).sort((a, b) => a[1] - b[1])
}
const offlineNow = (c: AreaContext): number => c.offline.length
const ratio = (n: number, of: number): number => (of === 0 ? 0 : Math.round((n / of) * 1000) / 1000)
const above = (n: number, of: number): boolean => n >= MIN_OFFLINE && n > OUTAGE_RATIO * of

/** Index of `id` in the sorted list, or -(insertion point) - 1. */
function search(ids: readonly string[], id: string): number {
  let lo = 0
  let hi = ids.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const at = ids[mid]!
    if (at === id) return mid
    if (at < id) lo = mid + 1
    else hi = mid - 1
  }
  return -lo - 1
}

/** The area after one feed: membership and darkness of the source meter. Unchanged parts are not copied. */
function track(c: AreaContext, event: RuleFeedEvent<MeterContext>): Pick<AreaContext, 'meters' | 'offline' | 'now'> {
  const id = event.twinId
  const index = search(c.meters, id)
  const darkIndex = c.offline.findIndex(([m]) => m === id)
  const dark = darkIndex >= 0
  let meters = c.meters
  let offline = c.offline
  const setDark = (at: number | null): void => {
    if (at === null && dark) offline = offline.filter(([m]) => m !== id)
    else if (at !== null && !dark) offline = [...offline, [id, at]]
  }
  if (event.attributes?.[GROUP_ATTRIBUTE] !== c.area) {
    // Moved to another area (or lost its attribute): forget it.
    if (index >= 0) meters = meters.filter((m) => m !== id)
    setDark(null)
    return { meters, offline, now: event.at }
  }
  if (index < 0) {
    meters = meters.slice()
    meters.splice(-index - 1, 0, id)
  }
  if (event.type === 'meter.offline') setDark(event.at) // a repeat keeps the first time
  else if (event.type === 'meter.online') setDark(null)
  else if (event.context?.online === false) setDark(index < 0 ? OFFLINE_BEFORE_JOINING : event.at)
  else setDark(null)
  return { meters, offline, now: event.at }
}

/*
 * The window needs no list of its own and no pruning timer: each dark
 * meter's entry is the time it went offline, so "offline within the last 5
 * minutes" is read from it at each feed. Entries leave the window by
 * themselves as time passes, and a meter back online leaves it at once. Only an offline feed
 * can push the share up, so the check runs on feeds, never on a timer.
 *
 * In outage the measure is every meter still dark, not the window: the
 * outage lasts until the meters come back, not five minutes. It clears when
 * that share falls below the threshold. A meter cannot flap faster than its
 * twin's 5-minute offline watchdog, which bounds alarm/clear pairs.
 */
const machine = setup({
  types: {} as {
    context: AreaContext
    events: RuleFeedEvent<MeterContext>
    emitted: AreaDerivedEvent
    input: { type: string; id: string }
  },
  guards: {
    outageSuspected: ({ context }) => above(recentlyOffline(context).length, total(context)),
    recovered: ({ context }) => offlineNow(context) < OUTAGE_RATIO * total(context) || offlineNow(context) < MIN_OFFLINE,
  },
  actions: {
    track: assign(({ context, event }) => track(context, event)),
    startOutage: assign(({ context }) => ({ outageSince: context.now })),
    endOutage: assign({ outageSince: null }),
    emitOutage: emit(({ context }) => {
      const dark = recentlyOffline(context)
      return {
        type: 'suspectedOutage' as const,
        area: context.area,
        offline: dark.length,
        total: total(context),
        ratio: ratio(dark.length, total(context)),
        since: dark[0]?.[1] ?? context.now,
        meters: dark.slice(0, LISTED_METERS).map(([id]) => id),
      }
    }),
    emitCleared: emit(({ context }) => ({
      type: 'suspectedOutageCleared' as const,
      area: context.area,
      offline: offlineNow(context),
      total: total(context),
      ratio: ratio(offlineNow(context), total(context)),
      since: context.outageSince ?? context.now,
      durationMs: context.now - (context.outageSince ?? context.now),
    })),
  },
}).createMachine({
  id: 'meter-area-outage',
  context: ({ input }) => ({ area: input.id, meters: [], offline: [], now: 0, outageSince: null }),
  initial: 'normal',
  on: { 'meter.*': { actions: 'track' } },
  states: {
    normal: {
      always: { guard: 'outageSuspected', target: 'outage', actions: ['emitOutage', 'startOutage'] },
    },
    outage: {
      always: { guard: 'recovered', target: 'normal', actions: ['emitCleared', 'endOutage'] },
    },
  },
})

export default defineRule({
  name: 'meter-area-outage',
  version: 1,
  description: 'Per area: raises suspectedOutage when more than 30% of the meters (at least 2) go offline within 5 minutes, clears it when fewer than 30% are still offline',
  inputs: [{ twin: 'meter', changes: 'state', events: ['online', 'offline'], groupBy: GROUP_ATTRIBUTE }],
  machine,
})
