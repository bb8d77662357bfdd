/**
 * Every Redis key name the engine uses, built here and nowhere else.
 *
 * Every key of shard N carries the hash tag `{tw:N}`, so one Lua script can
 * commit a shard's batch atomically and the same code runs on Redis Cluster
 * (DESIGN.md decision 1). `prefix` namespaces a whole engine (tests use a
 * fresh one each).
 */
export interface ShardKeys {
  /** stream: input waiting to be applied (fields: store/inboxStream.ts) */
  inbox: string
  /** hash: twin key (type/id) -> encoded TwinRecord (store/twinRecords.ts) */
  twins: string
  /** zset, all scores 0: twin keys, for listing by type in lexical order */
  index: string
  /** zset: `type/id|timerId` scored by due time (ms) */
  timers: string
  /** stream: derived events, rule feeds and commands (fields: store/outboxStream.ts), read by the relay and consumers */
  outbox: string
  /** stream: events the engine refused, with a reason */
  dead: string
  /** hash: dead-letter count per reason code */
  deadCounts: string
  /** hash: checkpoint and the relay's marks (fields: store/shardMeta.ts) */
  meta: string
  /** hash: live count of twins per type, state, tag and indicator (fields: store/stateCounts.ts) */
  counts: string
  /** stream: input held for twins stored by a newer definition version than the owner has (fields: store/inboxStream.ts heldFields) */
  held: string
  /** hash: twin key -> the definition version it is stored at, for every twin whose input is held */
  heldKeys: string
  /** stream: input the shard applied, kept for what-if replay (same ids and fields as the inbox; ADR 0012) */
  retained: string
  /** zset: the shard's base snapshots for replay, scored by the time taken (members: store/retention.ts) */
  snapshots: string
  /** hash: one base snapshot, a copy of `twins` taken at `at` ms (store/retention.ts) */
  snapshot(at: number): string
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
      counts: `${tag}:counts`,
      held: `${tag}:held`,
      heldKeys: `${tag}:heldk`,
      retained: `${tag}:ret`,
      snapshots: `${tag}:snaps`,
      snapshot: (at: number) => `${tag}:snap:${at}`,
      lease: `${tag}:lease`,
      epoch: `${tag}:epoch`,
    }
  }

  /** zset: live worker id -> last heartbeat (ms, Redis time) */
  get workers(): string {
    return `${this.prefix}tw:workers`
  }

  /** hash: worker id -> JSON of the definition versions it runs ({ type: version }), for placement and GET /cluster */
  get workerVersions(): string {
    return `${this.prefix}tw:workerVersions`
  }

  /** pub/sub channel: change notices and derived events, from workers to API processes */
  get changes(): string {
    return `${this.prefix}tw:changes`
  }

  /** string with a TTL: one process's write probe (src/store/redisHealth.ts) */
  healthProbe(processId: string): string {
    return `${this.prefix}tw:probe:${processId}`
  }

  /** hash: cluster-wide settings fixed at creation (shard count) */
  get cluster(): string {
    return `${this.prefix}tw:cluster`
  }

  /** string with TTL: a single-use WebSocket ticket (src/api/wsTickets.ts), by the SHA-256 of the ticket */
  wsTicket(sha256Hex: string): string {
    return `${this.prefix}tw:wsticket:${sha256Hex}`
  }

  /**
   * BullMQ `prefix` of the side-effect queues (src/effects): their keys are
   * `<this>:<queue>:…`. The hash tag keeps one queue in one Redis Cluster slot,
   * as BullMQ's scripts require (ADR 0008).
   */
  get effectsQueuePrefix(): string {
    return `${this.prefix}{tw-effects}`
  }

  /** BullMQ `prefix` of the admin jobs queue (src/jobs: migrate), one hash tag: one Redis Cluster slot. */
  get adminQueuePrefix(): string {
    return `${this.prefix}{tw-admin}`
  }
}
