import { UNKNOWN_COMMAND, type CommandReply } from './commandWire.ts'
import type { DeviceMessage, SimulatedDevice } from './device.ts'

/**
 * Household appliances with the chance, per reading, that one switches on or
 * off: a kettle runs for a few readings, a wallbox for dozens. The wallbox with
 * any other of them is more than a 9 kW contract.
 */
const APPLIANCES = [
  { name: 'kettle', w: 2_200, on: 0.01, off: 0.3 },
  { name: 'heatPump', w: 3_000, on: 0.008, off: 0.03 },
  { name: 'dryer', w: 3_700, on: 0.004, off: 0.05 },
  { name: 'wallbox', w: 7_400, on: 0.002, off: 0.02 },
]

/**
 * A household electricity meter: a base load with noise plus appliances
 * switching on and off, now and then together above the contract for minutes.
 * The import register integrates the power actually drawn, so it never runs
 * backwards, and is published at its 1 Wh resolution.
 */
export class MeterDevice implements SimulatedDevice {
  readonly type = 'meter'
  readonly id: string
  attributes: Record<string, string> = {}
  private readonly random: () => number
  private readonly baseW: number
  /** import register, kWh, unrounded */
  private register: number
  private powerW: number
  private readonly running = APPLIANCES.map(() => false)
  private lastAt: number | null = null

  constructor(id: string, random: () => number = Math.random) {
    this.id = id
    this.random = random
    this.baseW = 250 + Math.floor(random() * 500)
    this.register = 1_000 + Math.floor(random() * 40_000)
    this.powerW = this.baseW
  }

  /** Takes no commands: every one is refused, so the engine shows it rejected rather than timed out. */
  command(): CommandReply {
    return { ...UNKNOWN_COMMAND }
  }

  next(now: number): DeviceMessage {
    // Energy over the interval at the power drawn during it (last reported value); W x ms / 3.6e9 = kWh.
    if (this.lastAt !== null && now > this.lastAt) this.register += (Math.max(0, this.powerW) * (now - this.lastAt)) / 3.6e9
    this.lastAt = now
    this.powerW = this.nextPower()
    return { event: 'reading', payload: { energyKwh: Math.floor(this.register * 1000) / 1000, powerW: this.powerW } }
  }

  private nextPower(): number {
    let watts = this.baseW
    APPLIANCES.forEach((appliance, i) => {
      this.running[i] = this.random() < (this.running[i] ? 1 - appliance.off : appliance.on)
      if (this.running[i]) watts += appliance.w
    })
    const noise = (this.random() - 0.5) * 0.2 * this.baseW
    return Math.round(watts + noise)
  }
}
