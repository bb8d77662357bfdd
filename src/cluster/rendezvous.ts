/**
 * Rendezvous (highest random weight) hashing: the desired owner of a shard is
 * the live worker with the highest hash(worker, shard). Every worker computes
 * the same answer from the same live set without a coordinator, and when a
 * worker joins or leaves only the shards it wins or held move
 * (DESIGN.md decision 4).
 */
export function desiredOwner(shard: number, workers: readonly string[]): string | undefined {
  let best: string | undefined
  let bestWeight = -1
  for (const worker of workers) {
    const weight = weightOf(worker, shard)
    if (weight > bestWeight || (weight === bestWeight && worker < best!)) {
      best = worker
      bestWeight = weight
    }
  }
  return best
}

/**
 * The shards `worker` should own among `shards` given the live workers. With
 * `canOwn`, a shard goes to the highest-weight worker among those that can
 * own it (rolling upgrades: those that have the definition versions its
 * twins are stored at), or among all when none can.
 */
export function desiredShards(worker: string, workers: readonly string[], shards: number, canOwn?: (shard: number, worker: string) => boolean): number[] {
  const out: number[] = []
  for (let shard = 0; shard < shards; shard++) {
    const able = canOwn ? workers.filter((w) => canOwn(shard, w)) : workers
    if (desiredOwner(shard, able.length ? able : workers) === worker) out.push(shard)
  }
  return out
}

/** 32-bit FNV-1a of `worker#shard`, then a murmur3 finaliser so nearby inputs spread. */
function weightOf(worker: string, shard: number): number {
  const key = `${worker}#${shard}`
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
