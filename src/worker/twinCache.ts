import type { LiveTwin } from '../model/record.ts'

/**
 * Active twins in memory, least recently used first out (DESIGN.md decision 6:
 * virtual actors). Passivation costs nothing: every committed change is
 * already in Redis, so an evicted twin is simply reloaded on its next event.
 * Only committed twins enter the cache.
 */
export class TwinCache {
  private readonly entries = new Map<string, { shard: number; twin: LiveTwin }>()
  readonly capacity: number
  evictions = 0

  constructor(capacity: number) {
    this.capacity = capacity
  }

  get size(): number {
    return this.entries.size
  }

  has(key: string): boolean {
    return this.entries.has(key)
  }

  get(key: string): LiveTwin | undefined {
    const entry = this.entries.get(key)
    if (!entry) return undefined
    // Map keeps insertion order: re-inserting marks the entry most recently used.
    this.entries.delete(key)
    this.entries.set(key, entry)
    return entry.twin
  }

  set(key: string, shard: number, twin: LiveTwin): void {
    this.entries.delete(key)
    this.entries.set(key, { shard, twin })
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string
      this.entries.delete(oldest)
      this.evictions++
    }
  }

  /** Forgets every twin of a shard (the shard moved to another worker). */
  dropShard(shard: number): void {
    for (const [key, entry] of this.entries) if (entry.shard === shard) this.entries.delete(key)
  }
}
