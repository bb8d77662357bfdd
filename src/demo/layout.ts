import { ChargerDevice } from './chargerDevice.ts'
import { createDevice, type SimulatedDevice } from './devices.ts'
import { GridMeterDevice } from './gridMeterDevice.ts'

/*
 * Where the demo fleet's devices sit, so the shipped rules (rules/) have
 * groups to work on: elevators in buildings (building-elevator-availability),
 * household meters in areas (meter-area-outage), chargers at sites behind one
 * grid-connection meter each (site-charging-load).
 */

/** A mid-rise residential or office block. */
export const ELEVATORS_PER_BUILDING = 4
/** Meters behind one low-voltage feeder / secondary substation (small, so a demo area can go dark). */
export const METERS_PER_AREA = 10
/** A small car park or office charging hub. */
export const CHARGERS_PER_SITE = 4
/**
 * The site's grid connection: 4 chargers can draw up to 88 kW on top of
 * 8-25 kW of the rest of the site, against a 45 kW contract, so load
 * management has work now and then, not all the time.
 */
export const SITE_LIMIT_W = 45_000
export const SITE_BASE_W: [number, number] = [8_000, 25_000]

const groupOf = (n: number, size: number): number => Math.ceil(n / size)

/**
 * The devices of a demo fleet with their attributes: `devicesPerType` of each
 * type in `types` (`<prefix>-<type>-<n>`), plus, when there are meters and
 * chargers, one grid meter per site (`<prefix>-grid-<k>`, a meter with
 * `{ site, role: 'grid' }`) whose power includes its chargers'.
 */
export function buildFleet(o: { types: readonly string[]; devicesPerType: number; idPrefix?: string; random?: () => number }): SimulatedDevice[] {
  const prefix = o.idPrefix ?? 'demo'
  const random = o.random ?? Math.random
  const devices: SimulatedDevice[] = []
  const sites = new Map<number, ChargerDevice[]>()
  for (const type of o.types) {
    for (let n = 1; n <= o.devicesPerType; n++) {
      const device = createDevice(type, `${prefix}-${type}-${n}`, random)
      if (type === 'elevator') device.attributes = { building: `${prefix}-building-${groupOf(n, ELEVATORS_PER_BUILDING)}` }
      if (type === 'meter') device.attributes = { area: `${prefix}-area-${groupOf(n, METERS_PER_AREA)}` }
      if (device instanceof ChargerDevice) {
        const site = groupOf(n, CHARGERS_PER_SITE)
        device.attributes = { site: `${prefix}-site-${site}` }
        sites.set(site, [...(sites.get(site) ?? []), device])
      }
      devices.push(device)
    }
  }
  if (o.types.includes('meter')) {
    for (const [site, chargers] of sites) {
      const grid = new GridMeterDevice(`${prefix}-grid-${site}`, random, () => chargers.reduce((sum, c) => sum + c.powerW, 0), {
        limitW: SITE_LIMIT_W,
        baseW: SITE_BASE_W,
      })
      grid.attributes = { site: `${prefix}-site-${site}`, role: 'grid' }
      devices.push(grid)
    }
  }
  return devices
}
