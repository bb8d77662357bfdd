import { UNKNOWN_COMMAND, type CommandReply } from './commandWire.ts'
import type { DeviceMessage, SimulatedDevice } from './device.ts'

/**
 * The grid-connection meter of a charging site (attributes `{ site, role:
 * 'grid' }`): a `meter` twin like any other, whose power is the site's own
 * load (lighting, HVAC, lifts: a slow random walk) plus whatever its chargers
 * draw right now, so a demo fleet closes the loop of site-charging-load: caps
 * on the chargers show up on this meter.
 *
 * Its first message is the contract (the connection's limit), as the back
 * office would set it; then readings.
 */
export class GridMeterDevice implements SimulatedDevice {
  readonly type = 'meter'
  readonly id: string
  attributes: Record<string, string> = {}
  readonly limitW: number
  private readonly random: () => number
  private readonly chargersW: () => number
  private readonly minW: number
  private readonly maxW: number
  private baseW: number
  /** import register, kWh, unrounded */
  private register: number
  private lastPowerW = 0
  private lastAt: number | null = null
  private contracted = false

  /**
   * @param chargersW power its site's chargers draw now
   * @param o.limitW contracted limit of the connection
   * @param o.baseW range of the rest of the site's load
   */
  constructor(id: string, random: () => number, chargersW: () => number, o: { limitW: number; baseW: [number, number] }) {
    this.id = id
    this.random = random
    this.chargersW = chargersW
    this.limitW = o.limitW
    ;[this.minW, this.maxW] = o.baseW
    this.baseW = this.minW + random() * (this.maxW - this.minW)
    this.register = 10_000 + Math.floor(random() * 500_000)
  }

  command(): CommandReply {
    return { ...UNKNOWN_COMMAND }
  }

  next(now: number): DeviceMessage {
    if (!this.contracted) {
      this.contracted = true
      return { event: 'contract', payload: { limitW: this.limitW } }
    }
    if (this.lastAt !== null && now > this.lastAt) this.register += (Math.max(0, this.lastPowerW) * (now - this.lastAt)) / 3.6e9
    this.lastAt = now
    // A random walk of +-5 % of the range per reading, kept inside it.
    const span = this.maxW - this.minW
    this.baseW = Math.min(this.maxW, Math.max(this.minW, this.baseW + (this.random() - 0.5) * 0.1 * span))
    this.lastPowerW = Math.round(this.baseW + this.chargersW())
    return { event: 'reading', payload: { energyKwh: Math.floor(this.register * 1000) / 1000, powerW: this.lastPowerW } }
  }
}
