import { describe, expect, it } from 'vitest'
import { desiredOwner, desiredShards } from '../../src/cluster/rendezvous.ts'

const SHARDS = 64
const owners = (workers: string[]) => Array.from({ length: SHARDS }, (_, s) => desiredOwner(s, workers))

describe('rendezvous hashing', () => {
  it('gives every shard exactly one owner, the same whatever the order of the live set', () => {
    const workers = ['w-a', 'w-b', 'w-c']
    const all = workers.flatMap((w) => desiredShards(w, workers, SHARDS))
    expect(all.sort((a, b) => a - b)).toEqual(Array.from({ length: SHARDS }, (_, i) => i))
    expect(owners(['w-c', 'w-a', 'w-b'])).toEqual(owners(workers))
  })

  it('spreads shards roughly evenly', () => {
    const workers = ['worker-1', 'worker-2', 'worker-3', 'worker-4']
    for (const w of workers) {
      const n = desiredShards(w, workers, 1024).length
      expect(n).toBeGreaterThan(1024 / 4 * 0.75)
      expect(n).toBeLessThan(1024 / 4 * 1.25)
    }
  })

  it('moves only the shards a joining worker wins, and only a leaving worker\'s shards', () => {
    const before = owners(['w-a', 'w-b', 'w-c'])
    const joined = owners(['w-a', 'w-b', 'w-c', 'w-d'])
    joined.forEach((owner, s) => expect(owner === 'w-d' || owner === before[s]).toBe(true))
    expect(joined.filter((o) => o === 'w-d').length).toBeGreaterThan(0)
    const left = owners(['w-a', 'w-c'])
    left.forEach((owner, s) => {
      if (before[s] !== 'w-b') expect(owner).toBe(before[s])
    })
  })

  it('has no owner without live workers', () => {
    expect(desiredOwner(0, [])).toBeUndefined()
  })
})
