/** A timer a batch will fire: its member (`type/id|timerId`), due time, and arming order. */
export interface QueuedTimer {
  member: string
  due: number
  /** arming order among timers due at once (model/record.ts PendingTimer); -1 when unknown */
  seq: number
}

/**
 * The timers one batch fires, soonest first and, among timers due at once,
 * in arming order: those read from the shard's timer set and those the
 * batch's own steps arm. One entry per timer: re-arming replaces it.
 */
export class TimerQueue {
  private readonly items: QueuedTimer[] = []
  private readonly byMember = new Map<string, QueuedTimer>()

  get size(): number {
    return this.items.length
  }

  push(timer: QueuedTimer): void {
    const old = this.byMember.get(timer.member)
    if (old) this.items.splice(this.items.indexOf(old), 1)
    this.byMember.set(timer.member, timer)
    let lo = 0
    let hi = this.items.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (before(this.items[mid]!, timer)) lo = mid + 1
      else hi = mid
    }
    this.items.splice(lo, 0, timer)
  }

  /** The next timer due at or before `time`, taken out; undefined when none is. */
  takeDue(time: number): QueuedTimer | undefined {
    const first = this.items[0]
    if (!first || first.due > time) return undefined
    this.items.shift()
    this.byMember.delete(first.member)
    return first
  }
}

/** a fires before b: sooner, or due at once and armed earlier (ties keep queue order). */
function before(a: QueuedTimer, b: QueuedTimer): boolean {
  return a.due < b.due || (a.due === b.due && a.seq <= b.seq)
}
