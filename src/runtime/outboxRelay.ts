import type { MqttClient } from 'mqtt'
import type { Logger } from 'pino'
import type { Keys } from '../store/keys.ts'
import { splitTwinKey, streamFields } from '../store/keys.ts'
import type { RedisClient } from '../store/redis.ts'
import type { DerivedEvent } from './shardBatch.ts'

const RELAY_BATCH = 500

/**
 * Takes a batch of derived events from one shard's outbox, before the relay's
 * mark moves past them: at least once, each event with its stable id. A sink
 * that throws makes the relay retry the whole batch (all sinks) later.
 */
export type DerivedSink = (events: readonly DerivedEvent[]) => Promise<void>

/** MQTT topic of a derived event. */
export function derivedTopic(event: Pick<DerivedEvent, 'type' | 'twinId' | 'name'>): string {
  return `twins/${event.type}/${event.twinId}/events/${event.name}`
}

/**
 * Publishes each shard's outbox (derived events committed with the twins'
 * state) to MQTT at QoS 1, then records how far it got in the shard's
 * `relayed` mark. At least once: after a crash between publish and mark the
 * same events go out again with the same ids, so consumers can de-duplicate.
 * It runs beside the shard loop, which never waits for it.
 */
export class OutboxRelay {
  private readonly dirty = new Set<number>()
  private readonly marks = new Map<number, string>()
  private running: Promise<void> | null = null
  private stopped = false
  published = 0

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly mqtt: MqttClient,
    private readonly log: Logger,
    private readonly sinks: readonly DerivedSink[] = [],
  ) {}

  /**
   * A shard (re)gained: forget how far this process had got (another worker
   * may have relayed since), and catch up from the shard's own mark.
   */
  resume(shard: number): void {
    this.marks.delete(shard)
    this.notify(shard)
  }

  notify(shard: number): void {
    this.dirty.add(shard)
    if (!this.running && !this.stopped) this.running = this.drain().finally(() => (this.running = null))
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
    const k = this.keys.shard(shard)
    let mark = this.marks.get(shard)
    if (mark === undefined) mark = (await this.redis.hget(k.meta, 'relayed')) ?? ''
    const entries = (await this.redis.xrange(k.outbox, mark ? `(${mark}` : '-', '+', 'COUNT', RELAY_BATCH)) as Array<[string, string[]]>
    if (entries.length === 0) return 0
    const events = entries.map(([, f]) => outboxEntryToEvent(f))
    await Promise.all([
      ...events.map((event) => this.mqtt.publishAsync(derivedTopic(event), JSON.stringify(event), { qos: 1 })),
      ...this.sinks.map((sink) => sink(events)),
    ])
    mark = entries[entries.length - 1]![0]
    await this.redis.hset(k.meta, 'relayed', mark)
    this.marks.set(shard, mark)
    this.published += entries.length
    return entries.length
  }
}

/** Outbox stream fields (id, k, n, d, at) -> the derived event. */
export function outboxEntryToEvent(fields: string[]): DerivedEvent {
  const f = streamFields(fields)
  const { type, id } = splitTwinKey(f.k!)
  return { id: f.id!, type, twinId: id, name: f.n!, at: Number(f.at), data: JSON.parse(f.d!) as Record<string, unknown> }
}
