import { twinKey } from '../../store/keys.ts'
import type { TwinView } from '../../runtime/shardBatch.ts'

/**
 * The last `perTwin` change notices of up to `maxTwins` twins, in this API
 * process, fed by the change bus: what a resuming client missed is replayed
 * from here (docs/protocol.md, "Resume"). Twins are evicted least recently
 * changed first. Memory: at most maxTwins × perTwin views, each shared with
 * the bus (no copies).
 */
export class RecentChanges {
  private readonly byTwin = new Map<string, TwinView[]>()

  constructor(private readonly perTwin: number, private readonly maxTwins: number) {}

  get twins(): number {
    return this.byTwin.size
  }

  add(view: TwinView): void {
    if (this.perTwin === 0 || this.maxTwins === 0) return
    const key = twinKey(view.type, view.id)
    let list = this.byTwin.get(key)
    if (list) {
      // Re-insert: Map order is then "least recently changed first".
      this.byTwin.delete(key)
      // A notice can arrive twice (a replay after failover): keep revs strictly increasing.
      const last = list[list.length - 1]!
      if (view.rev <= last.rev) list = list.filter((v) => v.rev < view.rev)
    } else {
      list = []
      if (this.byTwin.size >= this.maxTwins) this.byTwin.delete(this.byTwin.keys().next().value!)
    }
    list.push(view)
    if (list.length > this.perTwin) list.shift()
    this.byTwin.set(key, list)
  }

  /**
   * The changes of one twin with from < rev <= to, in order, when this buffer
   * holds every one of them; otherwise null (the caller sends a gap notice).
   */
  between(type: string, id: string, from: number, to: number): TwinView[] | null {
    if (to <= from) return []
    const list = this.byTwin.get(twinKey(type, id))
    if (!list) return null
    const out = list.filter((v) => v.rev > from && v.rev <= to)
    if (out.length !== to - from) return null
    for (let i = 0; i < out.length; i++) if (out[i]!.rev !== from + 1 + i) return null
    return out
  }
}
