import { toJsonBytes } from '../../feed/serialise.ts'
import { twinKey } from '../../model/ids.ts'
import type { TwinView } from '../../model/record.ts'

/** One kept change: its rev and its JSON (the view itself is not kept). */
export interface RecentChange {
  rev: number
  json: Buffer
}

/** What a kept change costs besides its JSON bytes (entry object, list slot; the per-twin key and map entry amortised), estimated. */
const ENTRY_OVERHEAD_BYTES = 64

export interface RecentChangesLimits {
  /** changes kept per twin */
  perTwin: number
  /** twins kept */
  maxTwins: number
  /** JSON bytes (+ a small overhead per change) kept in all */
  maxBytes: number
}

/**
 * The last changes of recently changed twins, in this API process, fed by the
 * change bus: what a resuming client missed is replayed from here
 * (docs/protocol.md, "Resume"). Memory is bounded by bytes: the JSON of every
 * kept change (encoded once, shared with the fan-out) plus a small overhead
 * per change, at most `maxBytes`; `perTwin` and `maxTwins` bound it further.
 * Twins are evicted least recently changed first.
 */
export class RecentChanges {
  private readonly byTwin = new Map<string, RecentChange[]>()
  private total = 0

  constructor(private readonly limits: RecentChangesLimits) {}

  get twins(): number {
    return this.byTwin.size
  }

  /** estimated bytes held */
  get bytes(): number {
    return this.total
  }

  /**
   * Keeps a change. Returns false for a repeat (rev not above the last one
   * kept for the twin: a notice delivered twice), which must not be sent on.
   * A twin no longer kept cannot be recognised: its repeat returns true
   * (docs/protocol.md, "Order").
   */
  add(view: TwinView): boolean {
    const { perTwin, maxTwins, maxBytes } = this.limits
    if (perTwin === 0 || maxTwins === 0 || maxBytes === 0) return true
    const key = twinKey(view.type, view.id)
    let list = this.byTwin.get(key)
    if (list) {
      if (view.rev <= list[list.length - 1]!.rev) return false
      // Re-insert: Map order is then "least recently changed first".
      this.byTwin.delete(key)
    } else {
      list = []
      if (this.byTwin.size >= maxTwins) this.evictOldest()
    }
    const json = toJsonBytes(view)
    list.push({ rev: view.rev, json })
    this.total += json.length + ENTRY_OVERHEAD_BYTES
    if (list.length > perTwin) this.total -= cost(list.shift()!)
    this.byTwin.set(key, list)
    while (this.total > maxBytes && this.byTwin.size > 0) this.evictOldest()
    return true
  }

  /**
   * The changes of one twin with from < rev <= to, in order, when this buffer
   * holds every one of them; otherwise null (the caller sends a gap notice).
   */
  between(type: string, id: string, from: number, to: number): RecentChange[] | null {
    if (to <= from) return []
    const list = this.byTwin.get(twinKey(type, id))
    if (!list) return null
    const out = list.filter((c) => c.rev > from && c.rev <= to)
    if (out.length !== to - from) return null
    for (let i = 0; i < out.length; i++) if (out[i]!.rev !== from + 1 + i) return null
    return out
  }

  private evictOldest(): void {
    const [key, list] = this.byTwin.entries().next().value!
    this.byTwin.delete(key)
    for (const c of list) this.total -= cost(c)
  }
}

function cost(c: RecentChange): number {
  return c.json.length + ENTRY_OVERHEAD_BYTES
}
