import type { MqttClient } from 'mqtt'
import type { Logger } from 'pino'
import { TwinError } from '../errors.ts'
import { shardOf, splitTwinKey } from '../model/ids.ts'
import type { DerivedEvent } from '../model/record.ts'
import { commandTopic, derivedTopic } from '../model/topics.ts'
import { inboxFields } from '../store/inboxStream.ts'
import type { Keys } from '../store/keys.ts'
import { decodeOutboxEntry } from '../store/outboxStream.ts'
import type { RedisClient } from '../store/redis.ts'
import { META } from '../store/shardMeta.ts'

const RELAY_BATCH = 500

/**
 * Takes a batch of derived events from one shard's outbox, before the relay's
 * mark moves past them: at least once, each event with its stable id. A sink
 * that throws makes the relay retry the whole batch (all sinks) later.
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
 * state), then records how far it got in the shard's `relayed` mark:
 * - derived events: MQTT `twins/{type}/{id}/events/{name}` at QoS 1, and the sinks (webhooks);
 * - `$feed` and `$command` entries: appended to the inbox of the rule actor
 *   or twin they are for, tagged with their source (`<shard>:<outbox id>`),
 *   so the target applies each exactly once and in order;
 * - `$publish` entries: the command to the device, QoS 1 on
 *   `devices/{type}/{id}/commands/{name}`;
 * - `$topic` entries: a derived event's payload, QoS 1 on the topic it named (ADR 0021).
 * At least once: after a crash between relaying and marking, the same entries
 * go out again with the same ids. It runs beside the shard loop, which never
 * waits for it. Once it has caught up, it trims the outbox to OUTBOX_MAXLEN,
 * so entries it has not relayed are never trimmed away.
 */
export class OutboxRelay {
  private readonly dirty = new Set<number>()
  private readonly marks = new Map<number, string>()
  /** shards this process's worker no longer owns: not relayed until resumed */
  private readonly lost = new Set<number>()
  private running: Promise<void> | null = null
  private stopped = false
  published = 0

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly mqtt: MqttClient,
    private readonly log: Logger,
    private readonly o: RelayOptions,
  ) {}

  /**
   * A shard (re)gained: forget how far this process had got (another worker
   * may have relayed since), and catch up from the shard's own mark.
   */
  resume(shard: number): void {
    this.lost.delete(shard)
    this.marks.delete(shard)
    this.notify(shard)
  }

  /** A shard lost or handed over: stop relaying it (its new owner's relay takes over from the shard's mark). */
  forget(shard: number): void {
    this.lost.add(shard)
    this.marks.delete(shard)
    this.dirty.delete(shard)
  }

  notify(shard: number): void {
    this.dirty.add(shard)
    if (!this.running && !this.stopped) {
      this.running = this.drain().finally(() => {
        this.running = null
        // A shard marked dirty after the loop's last check and before this callback would wait for the next notify.
        if (this.dirty.size) this.notify(this.dirty.values().next().value as number)
      })
    }
  }

  /** Stops after the publish in flight, waiting at most `timeoutMs` (a broker that is down never acknowledges). */
  async stop(timeoutMs = 3000): Promise<void> {
    this.stopped = true
    await Promise.race([this.running, new Promise((r) => setTimeout(r, timeoutMs).unref())])
  }

  private async drain(): Promise<void> {
    while (this.dirty.size && !this.stopped) {
      const shard = this.dirty.values().next().value as number
      this.dirty.delete(shard)
      try {
        if ((await this.relay(shard)) === RELAY_BATCH) this.dirty.add(shard)
      } catch (err) {
        // Retry this shard in a second; the others go on meanwhile.
        this.log.warn({ err, shard }, 'outbox relay failed; retrying')
        setTimeout(() => this.notify(shard), 1000).unref()
      }
    }
  }

  private async relay(shard: number): Promise<number> {
    if (this.lost.has(shard)) return 0
    const k = this.keys.shard(shard)
    let mark = this.marks.get(shard)
    if (mark === undefined) mark = (await this.redis.hget(k.meta, META.relayed)) ?? ''
    const entries = (await this.redis.xrange(k.outbox, mark ? `(${mark}` : '-', '+', 'COUNT', RELAY_BATCH)) as Array<[string, string[]]>
    if (entries.length === 0) return 0
    await Promise.all(this.send(shard, entries))
    mark = entries[entries.length - 1]![0]
    // Monotonic: a relay that lost the shard and finishes late cannot move the mark back. Once caught up, the
    // same script trims what is relayed and beyond retention; what is not relayed is never trimmed.
    const caughtUp = entries.length < RELAY_BATCH
    if ((await this.redis.markRelayed(k.outbox, k.meta, mark, caughtUp ? this.o.outboxMaxLen : 0)) === 1) this.marks.set(shard, mark)
    else this.marks.delete(shard)
    this.published += entries.length
    return entries.length
  }

  /** Sends one read of a shard's outbox on its ways: MQTT, the sinks, and the target inboxes of routed entries. */
  private send(shard: number, entries: ReadonlyArray<[string, string[]]>): Array<Promise<unknown>> {
    const events: DerivedEvent[] = []
    const sends: Array<Promise<unknown>> = []
    /** routed entries per target inbox, in outbox order */
    const routed = new Map<string, string[][]>()
    for (const [streamId, fields] of entries) {
      const entry = decodeOutboxEntry(fields)
      if (entry.kind === 'routed') {
        const inbox = this.keys.shard(shardOf(entry.to, this.o.shards)).inbox
        let list = routed.get(inbox)
        if (!list) routed.set(inbox, (list = []))
        const { type, id } = splitTwinKey(entry.to)
        list.push(inboxFields({ type, twinId: id, event: entry.event, payload: entry.payload, source: `${shard}:${streamId}` }))
      } else if (entry.kind === 'publish') {
        const { type, id } = splitTwinKey(entry.key)
        sends.push(this.mqtt.publishAsync(commandTopic(type, id, entry.name), JSON.stringify(entry.message), { qos: 1 }))
      } else if (entry.kind === 'topic') {
        sends.push(this.mqtt.publishAsync(entry.topic, entry.payload, { qos: 1 }))
      } else {
        events.push(entry.event)
        sends.push(this.mqtt.publishAsync(derivedTopic(entry.event), JSON.stringify(entry.event), { qos: 1 }))
      }
    }
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
}

/** MULTI/EXEC replies: throws the first command error (EXEC itself throws when the transaction was refused). */
function failedInTransaction(replies: Array<[Error | null, unknown]> | null): void {
  if (!replies) throw new TwinError('TWIN_ERR_INTERNAL', 'a transaction appending routed entries was aborted; the relay retries it')
  for (const [err] of replies) if (err) throw err
}
