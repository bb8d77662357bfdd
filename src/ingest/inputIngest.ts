import { resolveInput, type InputDelivery, type InputRefusal, type InputTarget } from '../definitions/inputMessages.ts'
import { parsePayload, truncate } from '../definitions/validate.ts'
import type { TwinRegistry } from '../definitions/registry.ts'
import { TwinError } from '../errors.ts'
import { shardOf, twinKey } from '../model/ids.ts'
import { addInboxEntriesArgs, inboxFields, type InboxAppend } from '../store/inboxStream.ts'
import type { Keys } from '../store/keys.ts'
import { isCluster, type RedisClient } from '../store/redis.ts'

/** A refused message or target, for the ingestor's dead-letter stream. */
export interface InputDeadLetter {
  error: TwinError
  topic: string
  event?: string
  payload: Buffer | string
  src: 'mqtt' | 'api'
}

export interface InputIngestOptions {
  redis: RedisClient
  keys: Keys
  registry: TwinRegistry
  shards: number
  maxPayloadBytes: number
  deadLetter: (d: InputDeadLetter) => Promise<void>
}

/** One inbox entry written for an input message. */
export interface InputAccepted {
  type: string
  id: string
  shard: number
  entryId: string
}

/**
 * Messages on input topics and named inputs (ADR 0021): one message, every
 * twin type that takes it. The entries of one message are written in one
 * all-or-nothing script call (addInboxEntries-n.lua) issued in the caller's
 * tick, so the ingestor's auto-pipelined writes keep their order: each
 * twin sees its messages in the order they arrived. On Redis Cluster the
 * entries are written in the same pipeline but not atomically (docs/adr/0021).
 */
export class InputIngest {
  private readonly cluster: boolean

  constructor(private readonly o: InputIngestOptions) {
    this.cluster = isCluster(o.redis)
  }

  /**
   * An MQTT message on an input topic. Resolves once every target's inbox has
   * it and each target that cannot take it (no key, a key no id can carry, a
   * payload its event refuses) has its dead letter; a message no target can
   * read (not a JSON object, too large) is one dead letter.
   */
  async fromMqtt(topic: string, targets: readonly InputTarget[], payload: Buffer): Promise<number> {
    let deliveries: InputDelivery[]
    let refusals: InputRefusal[]
    try {
      if (payload.length > this.o.maxPayloadBytes) parsePayload(payload, this.o.maxPayloadBytes)
      ;({ deliveries, refusals } = resolveInput(targets, payload.toString('utf8'), { maxBytes: this.o.maxPayloadBytes }))
    } catch (err) {
      if (!(err instanceof TwinError)) throw err
      await this.o.deadLetter({ error: err, topic, payload, src: 'mqtt' })
      return 0
    }
    await Promise.all([this.write(deliveries), ...refusals.map((r) => this.o.deadLetter({ error: r.error, topic, event: r.event, payload, src: 'mqtt' }))])
    return deliveries.length
  }

  /**
   * A message an app sends to a named input (`POST /inputs/messages`). Throws
   * the TwinError, writing nothing, when no twin type takes the input or no
   * target can take the message; targets that cannot take it while others
   * can get dead letters, as over MQTT.
   */
  async fromApi(name: string, text: string, messageId?: string): Promise<InputAccepted[]> {
    const targets = this.o.registry.inputs.named(name)
    if (targets.length === 0) {
      const known = this.o.registry.inputs.names
      throw new TwinError('TWIN_ERR_INPUT_UNKNOWN', `no twin type takes input "${truncate(name, 128)}"; inputs: ${known.length ? known.join(', ') : 'none (declare `inputs` in a twin definition)'}`)
    }
    const { deliveries, refusals } = resolveInput(targets, text, { maxBytes: this.o.maxPayloadBytes, messageId })
    if (deliveries.length === 0) throw refusals[0]!.error
    const [accepted] = await Promise.all([
      this.write(deliveries),
      ...refusals.map((r) => this.o.deadLetter({ error: r.error, topic: `inputs/${name}`, event: r.event, payload: text, src: 'api' })),
    ])
    return accepted
  }

  /**
   * Writes one message's entries: one XADD for one target; else one script
   * call, all or none. On Redis Cluster the targets' inboxes are in different
   * slots, which one script cannot hold (and ioredis cannot auto-pipeline a
   * script whose first argument is its key count): an XADD each, in one
   * pipeline per node, not atomic together (docs/adr/0021).
   */
  private async write(deliveries: readonly InputDelivery[]): Promise<InputAccepted[]> {
    if (deliveries.length === 0) return []
    const appends = deliveries.map((d) => {
      const shard = shardOf(twinKey(d.type, d.id), this.o.shards)
      return { shard, append: { inbox: this.o.keys.shard(shard).inbox, entry: { type: d.type, twinId: d.id, event: d.event, payload: d.payload } } satisfies InboxAppend }
    })
    const ids = appends.length > 1 && !this.cluster
      ? await this.o.redis.addInboxEntries(...addInboxEntriesArgs(appends.map((a) => a.append)))
      : await Promise.all(appends.map(({ append }) => this.xadd(append.inbox, '*', ...inboxFields(append.entry))))
    return deliveries.map((d, i) => ({ type: d.type, id: d.id, shard: appends[i]!.shard, entryId: ids[i]! }))
  }

  private xadd(key: string, ...args: string[]): Promise<string> {
    const xadd = this.o.redis.xadd as unknown as (key: string, ...args: string[]) => Promise<string>
    return xadd.call(this.o.redis, key, ...args)
  }
}
