import { desiredShards } from '../cluster/rendezvous.ts'
import { readClusterStatus } from '../store/clusterStatus.ts'
import type { Keys } from '../store/keys.ts'
import type { RedisClient } from '../store/redis.ts'

/** A connection this process needs to be ready: an MQTT link of ingest or of the relay. */
export interface Link {
  name: string
  connected(): boolean
}

export interface ReadinessInputs {
  /** MQTT links this process needs */
  links: readonly Link[]
  /** this process's worker, if it runs one */
  worker?: { id: string; ownedShards: readonly number[] }
  redis: RedisClient
  keys: Keys
  shards: number
  leaseTtlMs: number
}

/**
 * Why this process is not ready (GET /ready; Redis itself is checked by the
 * route). A worker that holds no shard is ready only while rendezvous hashing
 * gives it none among the live workers (more workers than shards); while it
 * waits for leases to be handed over it is not.
 */
export async function notReadyReasons(o: ReadinessInputs): Promise<string[]> {
  const reasons = o.links.filter((l) => !l.connected()).map((l) => `${l.name} is not connected to the MQTT broker`)
  if (o.worker && o.worker.ownedShards.length === 0) {
    const status = await readClusterStatus(o.redis, o.keys, o.shards, o.leaseTtlMs)
    const live = status.workers.map((w) => w.id)
    if (!live.includes(o.worker.id)) reasons.push(`worker ${o.worker.id} has not joined the cluster yet`)
    else if (desiredShards(o.worker.id, live, o.shards).length > 0) reasons.push(`worker ${o.worker.id} holds none of the shards it should own yet`)
  }
  return reasons
}
