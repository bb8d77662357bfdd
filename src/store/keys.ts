/**
 * Every Redis key name the engine uses, built here and nowhere else.
 *
 * Every key of shard N carries the hash tag `{tw:N}`, so one Lua script can
 * commit a shard's batch atomically and the same code runs on Redis Cluster
 * (DESIGN.md decision 1). `prefix` namespaces a whole engine (tests use a
 * fresh one each).
 */
export interface ShardKeys {
  /** stream: device events waiting to be applied (fields t, i, e, p) */
  inbox: string
  /** hash: twin key (type/id) -> TwinRecord JSON */
  twins: string
  /** zset, all scores 0: twin keys, for listing by type in lexical order */
  index: string
  /** zset: `type/id|timerId` scored by due time (ms) */
  timers: string
  /** stream: derived events (fields id, k, n, d, at), read by the MQTT relay and consumers */
  outbox: string
  /** stream: events the engine refused, with a reason */
  dead: string
  /** hash: dead-letter count per reason code */
  deadCounts: string
  /** hash: cp = last applied inbox id, relayed = last outbox id published to MQTT */
  meta: string
  /** string: worker id holding the shard lease (with TTL) */
  lease: string
  /** string: lease epoch, +1 on every acquisition; commits carry it (fencing) */
  epoch: string
}

export class Keys {
  readonly prefix: string

  constructor(prefix = '') {
    this.prefix = prefix
  }

  shard(n: number): ShardKeys {
    const tag = `${this.prefix}{tw:${n}}`
    return {
      inbox: `${tag}:in`,
      twins: `${tag}:twins`,
      index: `${tag}:ix`,
      timers: `${tag}:timers`,
      outbox: `${tag}:out`,
      dead: `${tag}:dead`,
      deadCounts: `${tag}:deadn`,
      meta: `${tag}:meta`,
      lease: `${tag}:lease`,
      epoch: `${tag}:epoch`,
    }
  }

  /** zset: live worker id -> last heartbeat (ms, Redis time) */
  get workers(): string {
    return `${this.prefix}tw:workers`
  }

  /** pub/sub channel: change notices and derived events, from workers to API processes */
  get changes(): string {
    return `${this.prefix}tw:changes`
  }

  /** string with a TTL: one process's write probe (src/observability/redisHealth.ts) */
  healthProbe(processId: string): string {
    return `${this.prefix}tw:probe:${processId}`
  }

  /** hash: cluster-wide settings fixed at creation (shard count) */
  get cluster(): string {
    return `${this.prefix}tw:cluster`
  }

  /**
   * BullMQ `prefix` of the side-effect queues (src/effects): their keys are
   * `<this>:<queue>:…`. The hash tag keeps one queue in one Redis Cluster slot,
   * as BullMQ's scripts require (ADR 0008).
   */
  get effectsQueuePrefix(): string {
    return `${this.prefix}{tw-effects}`
  }
}

/** A stream entry's flat field list (`[name, value, …]`) as an object. */
export function streamFields(fields: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 0; i < fields.length; i += 2) out[fields[i]!] = fields[i + 1]!
  return out
}

/** 0 .. shards-1 */
export function shardRange(shards: number): number[] {
  return Array.from({ length: shards }, (_, i) => i)
}

/** `type/id`: the twin's key inside its shard. Types cannot contain `/`, ids cannot contain `/` or `|`. */
export function twinKey(type: string, id: string): string {
  return `${type}/${id}`
}

export function splitTwinKey(key: string): { type: string; id: string } {
  const slash = key.indexOf('/')
  return { type: key.slice(0, slash), id: key.slice(slash + 1) }
}

/**
 * Shard of a twin: FNV-1a (32 bit) of `type/id` mod the shard count. Changing
 * this function re-homes every twin: it is part of the storage format.
 */
export function shardOf(key: string, shards: number): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0) % shards
}
