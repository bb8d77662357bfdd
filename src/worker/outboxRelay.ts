import type { MqttClient } from 'mqtt'
import type { Logger } from 'pino'
import { TwinError } from '../errors.ts'
import { shardOf, splitTwinKey } from '../model/ids.ts'
import type { DerivedEvent } from '../model/record.ts'
import { commandTopic, derivedTopic } from '../model/topics.ts'
import { inboxFields } from '../store/inboxStream.ts'
import type { Keys } from '../store/keys.ts'
import { readOutbox, type OutboxRead } from '../store/outboxStream.ts'
import type { RedisClient } from '../store/redis.ts'
import { META } from '../store/shardMeta.ts'
import { OutboxTail } from './outboxTail.ts'
import { RelayLane } from './relayLane.ts'

/** Most outbox entries one pass of a lane reads and delivers. */
const RELAY_BATCH = 500

/**
 * Takes a batch of derived events from one shard's outbox, before the relay's
 * mark moves past them: at least once, each event with its stable id. A sink
 * that throws makes the relay retry the whole batch (all sinks, and the
 * routed entries of the same read) later.
 */
export type DerivedSink = (events: readonly DerivedEvent[]) => Promise<void>

export interface RelayOptions {
  shards: number
  /** relayed entries kept per outbox for other consumers (approximate) */
  outboxMaxLen: number
  sinks?: readonly DerivedSink[]
}

/**
 * Relays each shard's outbox (written in the same commit as the twins'
 * state) in two lanes, each with its own mark in the shard's meta hash
 * (ADR 0045), so that what needs only Redis never waits for the broker:
 * - the routes lane (`routed`): `$feed` and `$command` entries appended to the
 *   inbox of the rule actor or twin they are for, tagged with their source
 *   (`<shard>:<outbox id>`) so the target applies each exactly once and in
 *   order; derived events handed to the sinks (webhook jobs on BullMQ);
 * - the broker lane (`relayed`): derived events on MQTT
 *   `twins/{type}/{id}/events/{name}`, `$publish` entries (commands) on
 *   `devices/{type}/{id}/commands/{name}`, `$topic` entries on the topic they
 *   name (ADR 0021), all QoS 1 and in outbox order. While the broker is away,
 *   this lane waits (the MQTT client keeps the publishes in flight and sends
 *   them again on reconnecting); rules and commands keep flowing meanwhile.
 * At least once in each lane: after a crash between delivering and marking,
 * the same entries go out again with the same ids. It runs beside the shard
 * loop, which never waits for it. Each lane trims the outbox once it has
 * caught up, to the older of the two marks and OUTBOX_MAXLEN: what a lane
 * has not passed is never trimmed.
 */
export class OutboxRelay {
  private readonly lanes: readonly [RelayLane, RelayLane]
  /** what the lane ahead read, for the lane behind */
  private readonly tail: OutboxTail

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly mqtt: MqttClient,
    log: Logger,
    private readonly o: RelayOptions,
  ) {
    this.tail = new OutboxTail((shard, after, count) => readOutbox(redis, keys.shard(shard).outbox, after, count), 2 * RELAY_BATCH)
    const read = (shard: number, after: string) => this.tail.read(shard, after, RELAY_BATCH)
    const lane = { outboxMaxLen: o.outboxMaxLen, read }
    this.lanes = [
      new RelayLane(redis, keys, log, { ...lane, name: 'routes', mark: META.routed, deliver: (shard, entries) => Promise.all(this.route(shard, entries)) }),
      new RelayLane(redis, keys, log, { ...lane, name: 'broker', mark: META.relayed, deliver: (_shard, entries) => Promise.all(this.publish(entries)) }),
    ]
  }

  /** outbox entries the broker lane has passed (published, or not for the broker) */
  get published(): number {
    return this.lanes[1].passed
  }

  /** outbox entries the routes lane has passed (routed, or not for a target inbox) */
  get routed(): number {
    return this.lanes[0].passed
  }

  /**
   * A shard (re)gained: forget how far this process had got (another worker
   * may have relayed since), and catch up from the shard's own marks.
   */
  resume(shard: number): void {
    this.tail.forget(shard)
    for (const lane of this.lanes) lane.resume(shard)
  }

  /** A shard lost or handed over: stop relaying it (its new owner's relay takes over from the shard's marks). */
  forget(shard: number): void {
    this.tail.forget(shard)
    for (const lane of this.lanes) lane.forget(shard)
  }

  notify(shard: number): void {
    for (const lane of this.lanes) lane.notify(shard)
  }

  /** Stops after the passes in flight, waiting at most `timeoutMs` (a broker that is down never acknowledges). */
  async stop(timeoutMs = 3000): Promise<void> {
    await Promise.race([Promise.all(this.lanes.map((lane) => lane.stop())), new Promise((r) => setTimeout(r, timeoutMs).unref())])
  }

  /** The routes lane's part of one read: routed entries to their target inboxes, derived events to the sinks. */
  private route(shard: number, entries: readonly OutboxRead[]): Array<Promise<unknown>> {
    const events: DerivedEvent[] = []
    /** routed entries per target inbox, in outbox order */
    const routed = new Map<string, string[][]>()
    for (const { streamId, entry } of entries) {
      if (entry.kind === 'derived') events.push(entry.event)
      if (entry.kind !== 'routed') continue
      const inbox = this.keys.shard(shardOf(entry.to, this.o.shards)).inbox
      let list = routed.get(inbox)
      if (!list) routed.set(inbox, (list = []))
      const { type, id } = splitTwinKey(entry.to)
      list.push(inboxFields({ type, twinId: id, event: entry.event, payload: entry.payload, source: `${shard}:${streamId}` }))
    }
    const sends: Array<Promise<unknown>> = []
    // One transaction per target inbox: its entries land all together and in order, or not at all, so a
    // later entry can never be applied (moving the target's mark) while an earlier one failed and waits to be re-sent.
    for (const [inbox, list] of routed) {
      const tx = this.redis.multi()
      for (const fields of list) tx.xadd(inbox, '*', ...fields)
      sends.push(tx.exec().then(failedInTransaction))
    }
    if (events.length) for (const sink of this.o.sinks ?? []) sends.push(sink(events))
    return sends
  }

  /** The broker lane's part of one read: derived events, commands and topic outputs, QoS 1, in outbox order. */
  private publish(entries: readonly OutboxRead[]): Array<Promise<unknown>> {
    const sends: Array<Promise<unknown>> = []
    for (const { entry } of entries) {
      if (entry.kind === 'publish') {
        const { type, id } = splitTwinKey(entry.key)
        sends.push(this.mqtt.publishAsync(commandTopic(type, id, entry.name), JSON.stringify(entry.message), { qos: 1 }))
      } else if (entry.kind === 'topic') {
        sends.push(this.mqtt.publishAsync(entry.topic, entry.payload, { qos: 1 }))
      } else if (entry.kind === 'derived') {
        sends.push(this.mqtt.publishAsync(derivedTopic(entry.event), JSON.stringify(entry.event), { qos: 1 }))
      }
    }
    return sends
  }
}

/** MULTI/EXEC replies: throws the first command error (EXEC itself throws when the transaction was refused). */
function failedInTransaction(replies: Array<[Error | null, unknown]> | null): void {
  if (!replies) throw new TwinError('TWIN_ERR_INTERNAL', 'a transaction appending routed entries was aborted; the relay retries it')
  for (const [err] of replies) if (err) throw err
}
