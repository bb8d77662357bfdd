import { UNKNOWN_COMMAND, type CommandReply } from './commandWire.ts'
import type { DeviceMessage, SimulatedDevice } from './device.ts'

/** Lift controllers heartbeat every 30 s (twins/elevator.ts allows four missed). */
export const ELEVATOR_HEARTBEAT_MS = 30_000
const CAPACITY_KG = 1000
/** Door-to-door time per floor at 1.6 m/s with 3.2 m floors, plus start and levelling. */
const MS_PER_FLOOR = 2_000
const START_STOP_MS = 3_000
const FAULT_CODES = ['DOOR_LOCK_FAULT', 'SAFETY_CHAIN_OPEN', 'DRIVE_OVERCURRENT', 'LEVELLING_ERROR', 'BRAKE_MONITOR']

type Phase = 'idle' | 'moving' | 'doorsOpen' | 'fault' | 'service'

/**
 * A passenger lift controller: trips between the landings of a 6-30 storey
 * building, door cycles with passengers boarding (sometimes more than the rated
 * load, until someone steps out), rare faults and maintenance visits. Its phase
 * mirrors the twin's state, so every message it sends is one the twin accepts.
 */
export class ElevatorDevice implements SimulatedDevice {
  readonly type = 'elevator'
  readonly id: string
  attributes: Record<string, string> = {}
  private readonly random: () => number
  private readonly floors: number
  private phase: Phase = 'idle'
  private floor = 0
  private target = 0
  private arriveAt = 0
  private loadKg = 0
  /** the car just arrived: open the doors next */
  private landing = false
  private lastHeartbeatAt = -Infinity
  private lastEvent = ''

  constructor(id: string, random: () => number = Math.random) {
    this.id = id
    this.random = random
    this.floors = 6 + Math.floor(random() * 25)
  }

  /** Takes no commands: every one is refused, so the engine shows it rejected rather than timed out. */
  command(): CommandReply {
    return { ...UNKNOWN_COMMAND }
  }

  next(now: number): DeviceMessage {
    const message = this.due(now) ? { event: 'heartbeat', payload: {} } : this.step(now)
    if (message.event === 'heartbeat') this.lastHeartbeatAt = now
    this.lastEvent = message.event
    return message
  }

  /** A heartbeat falls due every 30 s, but never twice in a row so that the car keeps working at any cadence. */
  private due(now: number): boolean {
    return now - this.lastHeartbeatAt >= ELEVATOR_HEARTBEAT_MS && this.lastEvent !== 'heartbeat'
  }

  private step(now: number): DeviceMessage {
    switch (this.phase) {
      case 'idle':
        return this.idle(now)
      case 'moving':
        return this.moving(now)
      case 'doorsOpen':
        return this.doorsOpen()
      case 'fault':
        return this.faulted()
      case 'service':
        return this.service(now)
    }
  }

  private idle(now: number): DeviceMessage {
    if (this.landing) {
      this.landing = false
      this.phase = 'doorsOpen'
      return { event: 'doorsOpened', payload: { floor: this.floor } }
    }
    const r = this.random()
    if (r < 0.004) return this.fault()
    if (r < 0.006) {
      this.phase = 'service'
      return { event: 'serviceMode', payload: { on: true } }
    }
    if (r < 0.25) return { event: 'heartbeat', payload: {} } // waiting for a call
    if (r < 0.5) {
      this.phase = 'doorsOpen' // hall call at this landing
      return { event: 'doorsOpened', payload: { floor: this.floor } }
    }
    return this.startTrip(now, 'moving')
  }

  private startTrip(now: number, phase: 'moving' | 'service'): DeviceMessage {
    const other = Math.floor(this.random() * (this.floors - 1))
    this.target = other >= this.floor ? other + 1 : other
    this.arriveAt = now + START_STOP_MS + Math.abs(this.target - this.floor) * MS_PER_FLOOR
    this.phase = phase
    return { event: 'moving', payload: { fromFloor: this.floor, toFloor: this.target } }
  }

  private moving(now: number): DeviceMessage {
    if (this.random() < 0.002) return this.fault()
    if (now < this.arriveAt) return { event: 'heartbeat', payload: {} }
    this.floor = this.target
    this.phase = 'idle'
    this.landing = this.random() < 0.95 // otherwise a car call was cancelled: no doors
    return { event: 'arrived', payload: { floor: this.floor } }
  }

  private doorsOpen(): DeviceMessage {
    // An overloaded car keeps its doors open and buzzes until someone steps out.
    if (this.loadKg > CAPACITY_KG) return this.setLoad(this.loadKg - 75 - Math.floor(this.random() * 150))
    const r = this.random()
    if (r < 0.002) return this.fault()
    if (r < 0.04) return this.setLoad(this.loadKg + 300 + Math.floor(this.random() * 300)) // a crowd (or a pallet) boards
    if (r < 0.45) return this.setLoad(this.loadKg + Math.floor((this.random() - 0.55) * 480)) // passengers out and in
    if (r < 0.5) return { event: 'doorsOpened', payload: { floor: this.floor } } // re-opened by the light curtain
    this.phase = 'idle'
    return { event: 'doorsClosed', payload: {} }
  }

  private setLoad(kg: number): DeviceMessage {
    this.loadKg = Math.max(0, kg)
    return { event: 'load', payload: { kg: this.loadKg } }
  }

  private fault(): DeviceMessage {
    this.phase = 'fault'
    this.target = this.floor // a trip in progress is abandoned where the car is
    return { event: 'fault', payload: { code: FAULT_CODES[Math.floor(this.random() * FAULT_CODES.length)]! } }
  }

  private faulted(): DeviceMessage {
    if (this.random() < 0.15) {
      this.phase = 'idle'
      return { event: 'faultCleared', payload: {} }
    }
    return { event: 'heartbeat', payload: {} }
  }

  /** A technician on inspection drive: short runs, then back to normal service. */
  private service(now: number): DeviceMessage {
    if (this.floor !== this.target) {
      this.floor = this.target
      return { event: 'arrived', payload: { floor: this.floor } }
    }
    const r = this.random()
    if (r < 0.15) {
      this.phase = 'idle'
      return { event: 'serviceMode', payload: { on: false } }
    }
    if (r < 0.4) return this.startTrip(now, 'service')
    return { event: 'heartbeat', payload: {} }
  }
}
