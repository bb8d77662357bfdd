import type { OutboxRead } from '../store/outboxStream.ts'

/** What a lane of the relay gets for one read. */
export interface TailRead {
  entries: readonly OutboxRead[]
  /** there may be entries after these already: read again */
  more: boolean
}

type Fetch = (shard: number, after: string, count: number) => Promise<OutboxRead[]>

/**
 * The newest stretch of each shard's outbox this process has read, decoded,
 * shared by the relay's two lanes (ADR 0045): the lane ahead reads from
 * Redis and appends here, the lane behind takes its entries from here, so an
 * entry is read and decoded about once however the lanes drift apart. Each
 * shard's tail is one contiguous run of the stream `(start, last]`: stream
 * ids only grow, so a run read once stays exactly what the stream holds
 * there (trimming takes only what both lanes passed). At most `keep`
 * entries a shard; a lane further behind reads from Redis.
 */
export class OutboxTail {
  private readonly tails = new Map<number, { start: string; entries: OutboxRead[] }>()
  /** reads from Redis in flight by shard and start: two lanes at the same mark share one */
  private readonly inFlight = new Map<string, Promise<OutboxRead[]>>()

  constructor(
    private readonly fetch: Fetch,
    private readonly keep: number,
  ) {}

  /** Up to `count` entries after stream id `after` ('' = from the start): from the tail when it holds them, else from Redis. */
  async read(shard: number, after: string, count: number): Promise<TailRead> {
    const tail = this.tails.get(shard)
    const from = tail ? firstAfter(tail, after) : -1
    if (tail && from >= 0 && from < tail.entries.length) return { entries: tail.entries.slice(from, from + count), more: true }
    const entries = await this.fetchOnce(shard, after, count)
    this.append(shard, after, entries)
    return { entries, more: entries.length === count }
  }

  /** A shard lost or regained: what was kept of it is not used again. */
  forget(shard: number): void {
    this.tails.delete(shard)
  }

  private fetchOnce(shard: number, after: string, count: number): Promise<OutboxRead[]> {
    const key = `${shard} ${after}`
    let read = this.inFlight.get(key)
    if (!read) {
      read = this.fetch(shard, after, count).finally(() => this.inFlight.delete(key))
      this.inFlight.set(key, read)
    }
    return read
  }

  private append(shard: number, after: string, entries: readonly OutboxRead[]): void {
    if (entries.length === 0) return
    const tail = this.tails.get(shard)
    const last = tail && (tail.entries.at(-1)?.streamId ?? tail.start)
    if (tail && last === after) tail.entries.push(...entries)
    else if (tail && indexOf(tail.entries, entries[0]!.streamId) >= 0) return // a read two lanes shared: appended once
    else this.tails.set(shard, { start: after, entries: [...entries] })
    const kept = this.tails.get(shard)!
    const drop = kept.entries.length - this.keep
    if (drop > 0) {
      kept.start = kept.entries[drop - 1]!.streamId
      kept.entries.splice(0, drop)
    }
  }
}

/** The index of the tail's first entry after stream id `after`, or -1 when `after` is neither its start nor one of its entries. */
function firstAfter(tail: { start: string; entries: readonly OutboxRead[] }, after: string): number {
  if (tail.start === after) return 0
  const i = indexOf(tail.entries, after)
  return i < 0 ? -1 : i + 1
}

function indexOf(entries: readonly OutboxRead[], streamId: string): number {
  for (let i = entries.length - 1; i >= 0; i--) if (entries[i]!.streamId === streamId) return i
  return -1
}
