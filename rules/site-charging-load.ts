import { assign, enqueueActions, setup } from 'xstate'
import { COMMAND_EVENT, defineRule, type CommandEmit, type RuleFeedEvent, type RuleSourceTwin } from 'twin-engine/define'

/*
 * Dynamic load management of one site: the chargers share what the grid
 * connection has left after the rest of the building's load.
 *
 *   headroom = contracted limit - (grid meter power - sum of charger power)
 *
 * When the chargers draw more than the headroom, each active charger is
 * commanded `setMaxPower { maxPowerW: share }`; while limited the share
 * follows the headroom; when the chargers' demand fits the headroom again with
 * a margin, every cap is lifted with `setMaxPower { maxPowerW: null }`. One
 * command name for both, so the charger twin's shadow of `setMaxPower` always
 * shows the cap in force (null: none).
 */

/** Kept free of the contracted limit when sharing: meter and charger readings are never simultaneous. */
export const SHARE_RESERVE_RATIO = 0.05
/** Caps are lifted only when the chargers' demand fits the headroom with this share of the limit to spare (hysteresis). */
export const LIFT_MARGIN_RATIO = 0.1
/**
 * At most one re-share per this interval: chargers take seconds to follow a
 * new setpoint and meters report every 10-60 s, so a faster loop would chase
 * its own stale readings. Entering the limit and capping a charger that just
 * started are never delayed.
 */
export const MIN_INTERVAL_MS = 15_000
/**
 * Caps are raised no sooner than this after the last command: down fast (the
 * connection is at risk), up slowly (a load that swings would otherwise drag
 * the cars' charging current up and down, which EVs ramp slowly anyway).
 */
export const RAISE_INTERVAL_MS = 60_000
/** A new share that differs from a charger's cap by less than this is not sent. */
export const STEP_W = 500
/** Caps are whole multiples of this. */
export const ROUND_W = 100
/** What a charger whose draw was never reported is assumed to want: a 3-phase 32 A AC charger. */
export const ASSUMED_DEMAND_W = 22_000
/** OCPP statuses with a session in progress: the charger draws or may resume drawing. */
export const ACTIVE_STATES: readonly string[] = ['Charging', 'SuspendedEV', 'SuspendedEVSE']
/** The command, on `devices/charger/{id}/commands/setMaxPower`. */
export const SET_MAX_POWER = 'setMaxPower'

/** The attribute that places chargers and the grid meter in a site. */
export const GROUP_ATTRIBUTE = 'site'
/** The grid-connection meter of a site has attributes `{ site, role: 'grid' }`. */
export const GRID_ROLE = 'grid'

export interface ChargerEntry {
  /** power drawn now: its last meter value while Charging, 0 in any other status; null while Charging with no (or only a 0 W) meter value yet */
  p: number | null
  /** a session is in progress (ACTIVE_STATES) and the charger is online: it takes a share */
  active: boolean
  /** the cap commanded to it; null when uncapped */
  cap: number | null
  /** what it drew when first capped (its demand); null when uncapped */
  want: number | null
}

export interface SiteContext {
  site: string
  /** charger twin id -> entry; tens per site */
  chargers: Record<string, ChargerEntry>
  /** the site's grid-connection meter; null until it reports */
  grid: { id: string; limitW: number; powerW: number | null; online: boolean; at: number } | null
  /** engine time of the feed being handled */
  now: number
  limitedSince: number | null
  lastCommandAt: number | null
}

export type SiteDerivedEvent =
  | { type: 'loadLimited'; site: string; limitW: number; gridPowerW: number; headroomW: number; chargingPowerW: number; maxPowerW: number; chargers: string[] }
  /** caps: charger id -> the new cap, for the chargers that got one */
  | { type: 'loadLimitAdjusted'; site: string; limitW: number; gridPowerW: number; headroomW: number; caps: Record<string, number> }
  | { type: 'loadLimitLifted'; site: string; limitW: number; gridPowerW: number; headroomW: number; demandW: number; limitedForMs: number; chargers: string[] }

interface Measure {
  limitW: number
  gridPowerW: number
  /** power the managed chargers draw, a capped one counted at most at its cap */
  chargingW: number
  headroomW: number
  /** ids of the chargers that take a share */
  active: string[]
}

/** The site's balance now, or null without a live grid reading (then nothing is decided: caps stay as they are). */
export function measure(c: SiteContext): Measure | null {
  if (!c.grid || !c.grid.online || c.grid.powerW === null) return null
  let chargingW = 0
  const active: string[] = []
  for (const [id, e] of Object.entries(c.chargers)) {
    // Before the meter shows a new cap, the charger's own reading may still be
    // the old power; it cannot draw more than its cap once commanded, and
    // counting the cap keeps the rest of the load from looking smaller than it is.
    chargingW += e.cap === null ? (e.p ?? 0) : Math.min(e.p ?? 0, e.cap)
    if (e.active) active.push(id)
  }
  const headroomW = c.grid.limitW - (c.grid.powerW - chargingW)
  return { limitW: c.grid.limitW, gridPowerW: c.grid.powerW, chargingW, headroomW, active }
}

/**
 * Each active charger's equal share of the headroom less `reserveRatio` of the
 * limit, rounded down. Caps go down to the share at SHARE_RESERVE_RATIO and
 * up only to the share at LIFT_MARGIN_RATIO: between the two, readings that
 * wobble change no cap.
 */
export function shareOf(m: Measure, reserveRatio = SHARE_RESERVE_RATIO): number {
  const available = m.headroomW - reserveRatio * m.limitW
  if (m.active.length === 0 || available <= 0) return 0
  return Math.floor(available / m.active.length / ROUND_W) * ROUND_W
}

/**
 * What the active chargers would draw uncapped: a capped one what it drew when
 * capped (or more, if it draws more now), one never measured ASSUMED_DEMAND_W.
 * Never less than what they draw now, so a lift can never be followed by a
 * limit on the same reading.
 */
export function demandOf(c: SiteContext, m: Measure): number {
  let demand = 0
  for (const id of m.active) {
    const e = c.chargers[id]!
    demand += e.cap === null ? (e.p ?? ASSUMED_DEMAND_W) : Math.max(e.want ?? ASSUMED_DEMAND_W, Math.min(e.p ?? 0, e.cap))
  }
  return demand
}

const overloaded = (c: SiteContext): boolean => {
  const m = measure(c)
  return m !== null && m.active.length > 0 && m.chargingW > m.headroomW
}
/**
 * The caps can go when the demand fits the headroom with the margin, on a grid
 * reading taken after the last command: a reading older than the command
 * (a charger that just started, already capped, but not yet on the meter)
 * shows headroom that is not there (measured: a lift then a limit again within
 * one reading interval).
 */
const liftable = (c: SiteContext): boolean => {
  const m = measure(c)
  if (m === null || (c.lastCommandAt !== null && c.grid!.at <= c.lastCommandAt)) return false
  return demandOf(c, m) <= m.headroomW - LIFT_MARGIN_RATIO * m.limitW
}

const command = (id: string, maxPowerW: number | null): CommandEmit => ({
  type: COMMAND_EVENT,
  to: { type: 'charger', id },
  name: SET_MAX_POWER,
  payload: { maxPowerW },
})

const inSite = (site: string, attributes: Record<string, string> | undefined): boolean => attributes?.[GROUP_ATTRIBUTE] === site
const isGrid = (site: string, attributes: Record<string, string> | undefined): boolean => inSite(site, attributes) && attributes?.role === GRID_ROLE

/** The charger as the rule tracks it, from its twin after the step that fed the rule. */
function chargerEntry(event: RuleFeedEvent, previous: ChargerEntry | undefined): ChargerEntry {
  const state = typeof event.value === 'string' ? event.value : ''
  const online = event.context?.online !== false
  const reported = typeof event.context?.powerW === 'number' ? (event.context.powerW as number) : null
  return {
    // The twin keeps its last meter value after a session; only Charging draws.
    // Charging at 0 W is a meter value from before the session (the charger has
    // not reported since it started): unknown, not idle, or the demand of a
    // charger capped now would look like nothing and the cap would be lifted
    // on the next reading (measured: a limit/lift cycle every few minutes).
    p: !online || state !== 'Charging' ? 0 : reported !== null && reported > 0 ? reported : null,
    active: online && ACTIVE_STATES.includes(state),
    cap: previous?.cap ?? null,
    want: previous?.want ?? null,
  }
}

const machine = setup({
  types: {} as {
    context: SiteContext
    events: RuleFeedEvent
    emitted: SiteDerivedEvent | CommandEmit
    input: { type: string; id: string }
  },
  guards: {
    overloaded: ({ context }) => overloaded(context),
    liftable: ({ context }) => liftable(context),
  },
  actions: {
    track: enqueueActions(({ context, event, enqueue }) => {
      const site = context.site
      if (event.type.startsWith('meter.')) {
        if (isGrid(site, event.attributes)) {
          const c = event.context ?? {}
          enqueue.assign({
            grid: {
              id: event.twinId,
              limitW: typeof c.limitW === 'number' ? c.limitW : (context.grid?.limitW ?? 0),
              powerW: typeof c.lastPowerW === 'number' ? c.lastPowerW : null,
              online: c.online !== false,
              at: event.at,
            },
            now: event.at,
          })
        } else if (context.grid?.id === event.twinId) {
          enqueue.assign({ grid: null, now: event.at }) // no longer this site's grid meter
        }
        return
      }
      const chargers = { ...context.chargers }
      const previous = chargers[event.twinId]
      if (inSite(site, event.attributes)) {
        chargers[event.twinId] = chargerEntry(event, previous)
      } else if (previous) {
        // Moved to another site: no longer ours to limit.
        if (previous.cap !== null) enqueue.emit(command(event.twinId, null))
        delete chargers[event.twinId]
      }
      enqueue.assign({ chargers, now: event.at })
    }),
    limit: enqueueActions(({ context, enqueue }) => {
      const m = measure(context)!
      const share = shareOf(m)
      const chargers = { ...context.chargers }
      for (const id of m.active) {
        const e = chargers[id]!
        chargers[id] = { ...e, cap: share, want: e.want ?? e.p ?? ASSUMED_DEMAND_W }
        enqueue.emit(command(id, share))
      }
      enqueue.emit({
        type: 'loadLimited',
        site: context.site,
        limitW: m.limitW,
        gridPowerW: m.gridPowerW,
        headroomW: m.headroomW,
        chargingPowerW: m.chargingW,
        maxPowerW: share,
        chargers: m.active,
      })
      enqueue.assign({ chargers, limitedSince: context.now, lastCommandAt: context.now })
    }),
    /**
     * While limited: a charger that just started is capped at once; the others
     * follow the headroom: down to the share when their cap is STEP_W above it
     * (MIN_INTERVAL_MS after the last command), up to the smaller lift-margin
     * share when that is STEP_W above their cap (RAISE_INTERVAL_MS after).
     */
    adjust: enqueueActions(({ context, enqueue }) => {
      const m = measure(context)
      if (m === null || m.active.length === 0 || liftable(context)) return
      const down = shareOf(m)
      const up = shareOf(m, LIFT_MARGIN_RATIO)
      const quiet = context.now - (context.lastCommandAt ?? 0)
      const chargers = { ...context.chargers }
      const sent: string[] = []
      for (const id of m.active) {
        const e = chargers[id]!
        let cap: number | null = null
        if (e.cap === null) cap = down
        else if (quiet >= MIN_INTERVAL_MS && down <= e.cap - STEP_W) cap = down
        else if (quiet >= RAISE_INTERVAL_MS && up >= e.cap + STEP_W) cap = up
        if (cap === null) continue
        chargers[id] = { ...e, cap, want: e.want ?? e.p ?? ASSUMED_DEMAND_W }
        enqueue.emit(command(id, cap))
        sent.push(id)
      }
      if (sent.length === 0) return
      const caps = Object.fromEntries(sent.map((id) => [id, chargers[id]!.cap!]))
      enqueue.emit({ type: 'loadLimitAdjusted', site: context.site, limitW: m.limitW, gridPowerW: m.gridPowerW, headroomW: m.headroomW, caps })
      enqueue.assign({ chargers, lastCommandAt: context.now })
    }),
    lift: enqueueActions(({ context, enqueue }) => {
      const m = measure(context)!
      const chargers: Record<string, ChargerEntry> = {}
      const cleared: string[] = []
      for (const [id, e] of Object.entries(context.chargers)) {
        if (e.cap !== null) {
          enqueue.emit(command(id, null))
          cleared.push(id)
        }
        chargers[id] = { ...e, cap: null, want: null }
      }
      enqueue.emit({
        type: 'loadLimitLifted',
        site: context.site,
        limitW: m.limitW,
        gridPowerW: m.gridPowerW,
        headroomW: m.headroomW,
        demandW: demandOf(context, m),
        limitedForMs: context.now - (context.limitedSince ?? context.now),
        chargers: cleared,
      })
      enqueue.assign({ chargers, limitedSince: null, lastCommandAt: context.now })
    }),
  },
}).createMachine({
  id: 'site-charging-load',
  context: ({ input }) => ({ site: input.id, chargers: {}, grid: null, now: 0, limitedSince: null, lastCommandAt: null }),
  initial: 'normal',
  on: {
    'charger.*': { actions: 'track' },
    'meter.*': { actions: 'track' },
  },
  states: {
    normal: {
      always: { guard: 'overloaded', target: 'limited', actions: 'limit' },
    },
    limited: {
      always: { guard: 'liftable', target: 'normal', actions: 'lift' },
      on: {
        'charger.*': { actions: ['track', 'adjust'] },
        'meter.*': { actions: ['track', 'adjust'] },
      },
    },
  },
})

export default defineRule({
  name: 'site-charging-load',
  version: 1,
  description: "Per site: caps the chargers' power (setMaxPower) when they would overload the grid connection, lifts the caps when headroom returns",
  inputs: [
    { twin: 'charger', changes: 'all', groupBy: GROUP_ATTRIBUTE },
    // Only the site's grid-connection meter: other meters may carry a site too.
    { twin: 'meter', changes: 'all', groupBy: (t: RuleSourceTwin) => (t.attributes.role === GRID_ROLE ? t.attributes[GROUP_ATTRIBUTE] : undefined) },
  ],
  machine,
})
