/**
 * The one source of time. Twin and rule code never read the wall clock: the
 * engine stamps each event with its time and owns every timer (DESIGN.md §5),
 * so tests can run on virtual time.
 */
export interface Clock {
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

/** A clock that moves only when told to: for tests and the rule-author test kit. */
export class VirtualClock implements Clock {
  private time: number

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.time = start
  }

  now(): number {
    return this.time
  }

  set(time: number): void {
    if (time < this.time) throw new RangeError(`virtual time cannot go back (${time} < ${this.time})`)
    this.time = time
  }

  advance(ms: number): void {
    this.set(this.time + ms)
  }
}
