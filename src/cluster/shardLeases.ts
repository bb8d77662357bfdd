import type { Logger } from 'pino'
import { desiredShards } from './rendezvous.ts'
import type { Keys } from '../store/keys.ts'
import type { RedisClient } from '../store/redis.ts'
import { readStoredVersions } from '../store/stateCounts.ts'
import { advertiseVersions, forgetVersions, readWorkerVersions, type DefinitionVersions } from '../store/workerVersions.ts'

export interface LeaseEvents {
  /** this worker gained a shard; `epoch` is the fencing token its commits carry */
  acquired(shard: number, epoch: number): Promise<void> | void
  /** this worker lost a shard it held (lease expired and taken): stop at once */
  lost(shard: number): void
  /** this worker should hand shards over: resolve once no commit for them can follow */
  release(shards: number[]): Promise<void>
}

export interface LeaseOptions {
  workerId: string
  shards: number
  ttlMs: number
  log: Logger
  /** the definition versions this worker runs, per type: shards whose twins are stored at newer ones go to workers that have them */
  versions?: DefinitionVersions
}

/**
 * One worker's membership and shard leases (DESIGN.md decision 4).
 *
 * Every renewal (a third of the TTL, at most a second) the worker heartbeats
 * into the live set (on Redis' clock) and computes, by rendezvous hashing over
 * the live workers, which shards it should own. Shards it holds but no longer
 * wins are handed over gracefully: the worker finishes and commits its batch,
 * then releases the lease, and the new owner starts from the checkpoint.
 * Shards it wins are taken as soon as their lease is free: a live owner
 * releases it within one renewal, a dead one's lease expires after the TTL.
 *
 * A lease is a key with a TTL naming the owner plus an epoch that grows on
 * every acquisition; commits carry the epoch, so a worker that lost its lease
 * while paused can never overwrite the new owner's work.
 */
export class ShardLeases {
  private readonly held = new Map<number, number>()
  private timer: NodeJS.Timeout | undefined
  private renewing: Promise<void> = Promise.resolve()
  private rounds = 0
  private stopped = false
  /** live workers as of the last heartbeat */
  live: string[] = []

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly options: LeaseOptions,
    private readonly events: LeaseEvents,
  ) {}

  get intervalMs(): number {
    return Math.max(100, Math.min(1000, Math.floor(this.options.ttlMs / 3)))
  }

  start(): Promise<void> {
    this.timer = setInterval(() => {
      this.renewing = this.renewing.then(() => this.round())
    }, this.intervalMs)
    this.renewing = this.round()
    return this.renewing
  }

  /** The epoch this worker holds a shard under, if it does. */
  epochOf(shard: number): number | undefined {
    return this.held.get(shard)
  }

  /**
   * Forgets a shard whose commit was refused (another worker took it): the
   * next round asks Redis afresh instead of believing it still holds it.
   */
  forget(shard: number): void {
    this.held.delete(shard)
  }

  /** One renewal round; a failure (Redis down) is logged and the next round retries. */
  private async round(): Promise<void> {
    try {
      await this.renew()
    } catch (err) {
      this.options.log.warn({ err }, 'lease round failed; retrying next round')
    }
  }

  /** Heartbeat, take or renew what is ours, then hand over what is no longer. */
  async renew(): Promise<void> {
    if (this.stopped) return
    const { workerId, shards, ttlMs, log } = this.options
    try {
      const reply = await this.redis.heartbeat(this.keys.workers, workerId, ttlMs)
      this.live = []
      for (let i = 1; i < reply.length; i += 2) this.live.push(String(reply[i]))
    } catch (err) {
      log.warn({ err }, 'heartbeat failed; retrying')
      return
    }
    this.rounds++
    const desired = new Set(desiredShards(workerId, this.live, shards, await this.placement()))
    // A worker that just joined waits one round before taking shards, so workers
    // started together see each other first instead of grabbing and handing back.
    const wanted = this.rounds > 1 || this.live.length === 1 ? [...desired] : []
    // Renew (and take) first: a slow hand-over below must not let our other leases expire.
    if (wanted.length) await this.acquireAll(wanted)
    // All at once: the worker stops reading them and waits for its step in flight once.
    const leaving = [...this.held.keys()].filter((shard) => !desired.has(shard))
    if (leaving.length === 0) return
    await this.events.release(leaving)
    for (const shard of leaving) this.held.delete(shard)
    await Promise.allSettled(leaving.map((shard) => this.redis.releaseLease(this.keys.shard(shard).lease, workerId)))
    log.info({ shards: leaving }, 'shards handed over')
  }

  /**
   * Who can own which shard in a rolling upgrade: a worker can own a shard
   * when it has every definition version the shard's twins are stored at
   * (the stored versions are indexed in the shard's counts). Undefined (all
   * can) without versions, or when the versions cannot be read this round.
   */
  private async placement(): Promise<((shard: number, worker: string) => boolean) | undefined> {
    const { versions, workerId, shards, log } = this.options
    if (!versions) return undefined
    try {
      await advertiseVersions(this.redis, this.keys, workerId, versions)
      const [workers, stored] = await Promise.all([readWorkerVersions(this.redis, this.keys), readStoredVersions(this.redis, this.keys, shards)])
      const gone = [...workers.keys()].filter((w) => !this.live.includes(w))
      if (gone.length) void forgetVersions(this.redis, this.keys, gone).catch(() => undefined)
      return (shard, worker) => {
        const has = workers.get(worker)
        if (!has) return false
        for (const [type, version] of stored[shard]!) if ((has[type] ?? 0) < version) return false
        return true
      }
    } catch (err) {
      log.warn({ err }, 'could not read definition versions; placing shards by rendezvous alone this round')
      return undefined
    }
  }

  private async acquireAll(wanted: number[]): Promise<void> {
    const { workerId, ttlMs, log } = this.options
    const results = await Promise.allSettled(
      wanted.map((shard) => {
        const k = this.keys.shard(shard)
        return this.redis.acquireLease(k.lease, k.epoch, workerId, ttlMs)
      }),
    )
    if (results.every((r) => r.status === 'rejected')) {
      log.warn({ err: (results[0] as PromiseRejectedResult).reason as Error }, 'lease renewal failed; retrying')
      return
    }
    for (const [i, shard] of wanted.entries()) {
      const result = results[i]!
      if (result.status === 'rejected') continue // a failed round trip says nothing about ownership: retry next round
      const epoch = Number(result.value)
      const had = this.held.get(shard)
      if (epoch > 0 && had === epoch) continue
      if (had !== undefined) {
        this.held.delete(shard)
        this.events.lost(shard)
      }
      if (epoch > 0 && !this.stopped) {
        // Held only once the worker has taken it; if that fails, the next round tries again.
        try {
          await this.events.acquired(shard, epoch)
          this.held.set(shard, epoch)
        } catch (err) {
          log.warn({ err, shard }, 'could not take over the shard; retrying next round')
        }
      }
    }
  }

  /** Leaves the live set and releases every lease (after the worker has stopped committing). */
  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    await this.renewing
    const { workerId } = this.options
    const shards = [...this.held.keys()]
    this.held.clear()
    await Promise.allSettled([
      this.redis.leaveCluster(this.keys.workers, workerId),
      forgetVersions(this.redis, this.keys, [workerId]),
      ...shards.map((shard) => this.redis.releaseLease(this.keys.shard(shard).lease, workerId)),
    ])
  }
}
