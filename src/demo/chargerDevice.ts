import { UNKNOWN_COMMAND, type CommandReply } from './commandWire.ts'
import type { DeviceMessage, SimulatedDevice } from './device.ts'

/** OCPP HeartbeatInterval most central systems hand out in BootNotification.conf. */
export const CHARGER_HEARTBEAT_MS = 300_000
/** Maximum power an EV draws: 1-phase 7.4 kW, 3-phase 11 and 22 kW AC. */
const EV_POWER_W = [3_700, 7_400, 11_000, 22_000]
const FAULTS = ['GroundFailure', 'HighTemperature', 'OverCurrentFailure', 'PowerMeterFailure', 'ConnectorLockFailure']

type Status = 'Available' | 'Preparing' | 'Charging' | 'SuspendedEV' | 'SuspendedEVSE' | 'Finishing' | 'Faulted' | 'Unavailable'

/**
 * An OCPP 1.6 AC charge point with one connector. A session runs Available ->
 * Preparing -> StartTransaction -> Charging (meter values; the car pauses in
 * SuspendedEV, load management in SuspendedEVSE) -> StopTransaction ->
 * Finishing -> Available when the cable is pulled. Drivers sometimes walk away
 * before authorising, the charger sometimes faults, the operator sometimes
 * takes it out of service. The energy register integrates the charging power.
 *
 * Multi-message steps (a session start, a stop) are queued so that each call
 * sends one message, in the order a real charger sends them.
 *
 * Load management: `setMaxPower { maxPowerW }` caps the power it draws (as an
 * OCPP TxDefaultProfile / SetChargingProfile would), `{ maxPowerW: null }`
 * lifts the cap. The cap holds across sessions until lifted; a cap below what
 * a car can charge at simply yields that power (no status change).
 */
export class ChargerDevice implements SimulatedDevice {
  readonly type = 'charger'
  readonly id: string
  attributes: Record<string, string> = {}
  private readonly random: () => number
  private status: Status | null = null
  private readonly queue: Array<(now: number) => DeviceMessage> = []
  /** energy register, Wh, unrounded */
  private register: number
  private power = 0
  /** what the car in the current session can draw */
  private evPowerW = 0
  /** the load-management cap; null when uncapped */
  private capW: number | null = null
  private transactionId: number
  private lastAt: number | null = null
  private lastHeartbeatAt = -Infinity

  constructor(id: string, random: () => number = Math.random) {
    this.id = id
    this.random = random
    this.register = Math.floor(random() * 5_000_000)
    this.transactionId = 1 + Math.floor(random() * 100_000)
  }

  next(now: number): DeviceMessage {
    // W x ms / 3.6e6 = Wh
    if (this.lastAt !== null && now > this.lastAt) this.register += (this.power * (now - this.lastAt)) / 3.6e6
    this.lastAt = now
    const message = this.queue.shift()?.(now) ?? this.step(now)
    if (message.event === 'heartbeat') this.lastHeartbeatAt = now
    return message
  }

  private step(now: number): DeviceMessage {
    // Booted: report the connector first.
    if (this.status === null) return this.report('Available')
    const r = this.random()
    switch (this.status) {
      case 'Available':
        if (r < 0.04) {
          this.queue.push(() => (this.random() < 0.1 ? this.report('Available') : this.start()))
          return this.report('Preparing') // cable plugged in
        }
        if (r < 0.043) return this.report('Faulted', this.pick(FAULTS))
        if (r < 0.045) return this.report('Unavailable') // ChangeAvailability from the operator
        return this.idle(now)
      case 'Charging':
        if (r < 0.015) return this.stop(this.pick(['Local', 'EVDisconnected', 'Remote']))
        if (r < 0.017) {
          this.queue.push(() => this.stopMessage('Other'))
          return this.report('Faulted', this.pick(FAULTS))
        }
        if (r < 0.04) return this.report('SuspendedEV') // battery conditioning, or full
        if (r < 0.05) return this.report('SuspendedEVSE') // load management cut the current
        return this.meter()
      case 'SuspendedEV':
        if (r < 0.15) return this.report('Charging')
        if (r < 0.25) return this.stop('EVDisconnected')
        return this.meter()
      case 'SuspendedEVSE':
        if (r < 0.3) return this.report('Charging')
        return this.meter()
      case 'Finishing':
        if (r < 0.4) return this.report('Available') // cable pulled
        return this.idle(now)
      case 'Faulted':
      case 'Unavailable':
        if (r < 0.1) return this.report('Available')
        return this.idle(now)
      case 'Preparing':
        return this.idle(now) // not reached: Preparing always has a queued next step
    }
  }

  private report(status: Status, errorCode = 'NoError'): DeviceMessage {
    this.status = status
    // Suspended or not charging: the contactor is open or the car draws nothing.
    this.power = status === 'Charging' ? this.capped(this.evPowerW) : 0
    return { event: 'statusNotification', payload: { status, errorCode } }
  }

  private start(): DeviceMessage {
    this.transactionId += 1
    this.evPowerW = this.pick(EV_POWER_W)
    this.queue.push(() => this.report('Charging'))
    const idTag = `RFID${Math.floor(this.random() * 0xffffffff).toString(16).toUpperCase().padStart(8, '0')}`
    return { event: 'startTransaction', payload: { transactionId: this.transactionId, meterStartWh: Math.floor(this.register), idTag } }
  }

  private stop(reason: string): DeviceMessage {
    this.queue.push(() => this.report('Finishing'))
    return this.stopMessage(reason)
  }

  private stopMessage(reason: string): DeviceMessage {
    this.power = 0
    return { event: 'stopTransaction', payload: { transactionId: this.transactionId, meterStopWh: Math.floor(this.register), reason } }
  }

  private meter(): DeviceMessage {
    if (this.status === 'Charging') {
      // The car tapers its draw as the battery fills.
      this.power = this.capped(Math.round(this.evPowerW * (0.85 + this.random() * 0.15)))
    }
    return { event: 'meterValues', payload: { energyWh: Math.floor(this.register), powerW: this.power } }
  }

  /** Nothing happening: a heartbeat when due, else a clock-aligned meter value. */
  private idle(now: number): DeviceMessage {
    if (now - this.lastHeartbeatAt >= CHARGER_HEARTBEAT_MS || this.random() < 0.5) return { event: 'heartbeat', payload: {} }
    return this.meter()
  }

  /** Power drawn now (W): what a site's grid meter sees of this charger. */
  get powerW(): number {
    return this.power
  }

  /** The cap in force (W), null when none. */
  get maxPowerW(): number | null {
    return this.capW
  }

  command(name: string, payload: Record<string, unknown>): CommandReply {
    if (name !== 'setMaxPower') return { ...UNKNOWN_COMMAND }
    const cap = payload.maxPowerW
    if (cap !== null && (typeof cap !== 'number' || !Number.isFinite(cap) || cap < 0)) {
      return { ok: false, reason: 'invalid payload: maxPowerW must be a number >= 0, or null to lift the cap' }
    }
    this.capW = cap === null ? null : Math.floor(cap)
    // The contactor follows at once; the next meter value shows it.
    if (this.status === 'Charging') this.power = this.capped(this.evPowerW)
    return { ok: true, reported: { maxPowerW: this.capW } }
  }

  private capped(watts: number): number {
    return this.capW === null ? watts : Math.min(watts, this.capW)
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!
  }
}
