import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { WriteCancelled, type IngestGate } from './backpressure.ts'
import { InputIngest, type InputAccepted, type InputDeadLetter } from './inputIngest.ts'
import type { TwinRegistry } from '../definitions/registry.ts'
import { parsePayload, truncate, validateEvent } from '../definitions/validate.ts'
import { TwinError } from '../errors.ts'
import type { CommandRequestPayload } from '../model/commands.ts'
import { COMMAND } from '../model/engineEvents.ts'
import { EVENT_PATTERN, ID_PATTERN, shardOf, twinKey } from '../model/ids.ts'
import type { RedisHealth } from '../store/redisHealth.ts'
import { deadLetterFields, keptPayload } from '../store/deadLetters.ts'
import { inboxFields } from '../store/inboxStream.ts'
import type { Keys } from '../store/keys.ts'
import type { RedisClient } from '../store/redis.ts'

export interface IngestOptions {
  redis: RedisClient
  keys: Keys
  registry: TwinRegistry
  shards: number
  maxPayloadBytes: number
  deadLetterMaxLen: number
  log: Logger
  /** flow control: MQTT writes wait here, HTTP writes are refused at once (src/ingest/backpressure.ts) */
  gate?: IngestGate
  /** told of writes Redis refuses (OOM, MISCONF), which are then retried once it takes writes again */
  health?: RedisHealth
}

export interface Accepted {
  shard: number
  /** the inbox stream id: its millisecond part is the event's engine time */
  entryId: string
}

/** Topics longer than this are refused before they are split (hostile input). */
const MAX_TOPIC_LENGTH = 512

export interface IngestStats {
  accepted: number
  deadLetters: number
}

/**
 * The front door for device events: validates, then appends to the twin's
 * shard inbox. Calls made in the same tick are written in one pipeline, in
 * call order (which keeps each device's order), and each caller's promise
 * settles only once Redis has the entry: the MQTT layer sends PUBACK then,
 * so the broker never forgets an event Redis does not have (ADR 0004).
 *
 * Invalid MQTT input is not an error for the caller: it is written to a
 * dead-letter stream with its reason and acknowledged, so a device does not
 * resend it forever and nothing is lost silently.
 */
export class Ingestor {
  readonly stats: IngestStats = { accepted: 0, deadLetters: 0 }
  /** messages on input topics and named inputs: one message, every twin type taking it (ADR 0021) */
  private readonly inputs: InputIngest

  constructor(private readonly o: IngestOptions) {
    this.inputs = new InputIngest({ ...o, deadLetter: (d) => this.inputDeadLetter(d) })
  }

  /**
   * An MQTT publish. Resolves when the event (or its dead letter) is in Redis.
   * `gone` aborts when the connection it came on closes: a write still
   * waiting at the gate then rejects with WriteCancelled instead of landing
   * beside the copy the device sends again.
   */
  async fromMqtt(topic: string, payload: Buffer, gone?: AbortSignal): Promise<void> {
    const targets = topic.length <= MAX_TOPIC_LENGTH ? this.o.registry.inputs.onTopic(topic) : []
    if (targets.length) {
      const written = await this.inputs.fromMqtt(topic, targets, payload)
      this.stats.accepted += written
      return
    }
    try {
      await this.accept(topic, payload, undefined, true, gone)
    } catch (err) {
      if (!(err instanceof TwinError)) throw err
      await this.deadLetter(err, topic, payload, 'mqtt')
    }
  }

  /**
   * An event sent over HTTP. Throws the TwinError for invalid input (the app
   * gets it in the response, so it is not dead-lettered).
   */
  fromApi(type: string, id: string, event: string, payload: Buffer | string): Promise<Accepted> {
    return this.accept(`devices/${type}/${id}/${event}`, payload, { type, id, event }, false)
  }

  /**
   * A message an app sends to a named input (`POST /inputs/messages`): one
   * entry per twin type taking it. Throws the TwinError when no twin type
   * takes the input or none can take the message (nothing is written then).
   */
  async fromInput(name: string, text: string, messageId?: string): Promise<InputAccepted[]> {
    const accepted = await this.inputs.fromApi(name, text, messageId)
    this.stats.accepted += accepted.length
    return accepted
  }

  /**
   * A device command from an app: queued in the twin's inbox like an event,
   * so the twin records it (pending) before it is published. Throws
   * TwinError for an unknown type, invalid id or name.
   */
  async command(type: string, id: string, request: { name: string; payload?: Record<string, unknown>; timeoutMs?: number }): Promise<Accepted & { commandId: string }> {
    const definition = this.o.registry.require(type)
    if (!ID_PATTERN.test(id)) throw new TwinError('TWIN_ERR_INVALID_ID', `twin id "${truncate(id)}" is invalid: use 1-128 of A-Z a-z 0-9 . _ : -`)
    if (typeof request.name !== 'string' || !EVENT_PATTERN.test(request.name)) {
      throw new TwinError('TWIN_ERR_COMMAND_INVALID', `command name "${truncate(String(request.name), 64)}" must match [A-Za-z][A-Za-z0-9_-]{0,63}`)
    }
    const commandId = `api-${randomUUID()}`
    const body: CommandRequestPayload = { id: commandId, name: request.name, payload: request.payload ?? {}, by: 'api' }
    if (request.timeoutMs !== undefined) body.timeoutMs = request.timeoutMs
    const key = twinKey(definition.type, id)
    const shard = shardOf(key, this.o.shards)
    const fields = inboxFields({ type: definition.type, twinId: id, event: COMMAND, payload: JSON.stringify(body) })
    const entryId = await this.enqueue(shard, this.o.keys.shard(shard).inbox, ['*', ...fields], undefined, false)
    return { shard, entryId, commandId }
  }

  private async accept(topic: string, payload: Buffer | string, parts?: { type: string; id: string; event: string }, wait = true, gone?: AbortSignal): Promise<Accepted> {
    const match = parts ?? this.parseTopic(topic)
    const definition = this.o.registry.require(match.type)
    const body = parsePayload(payload, this.o.maxPayloadBytes)
    validateEvent(definition, match.id, match.event, body)
    const key = twinKey(definition.type, match.id)
    const shard = shardOf(key, this.o.shards)
    const json = payload.length ? payload.toString() : '{}'
    const fields = inboxFields({ type: definition.type, twinId: match.id, event: match.event, payload: json })
    return this.enqueue(shard, this.o.keys.shard(shard).inbox, ['*', ...fields], undefined, wait, gone).then(
      (entryId) => {
        this.stats.accepted++
        return { shard, entryId }
      },
    )
  }

  /**
   * The ingest partition (of `count`) a topic belongs to: its twin's shard mod
   * `count`, so one device always lands on the same ingest process; a topic
   * that names no twin is hashed whole (whoever gets it dead-letters it).
   */
  partitionOf(topic: string, count: number): number {
    if (count === 1) return 0
    try {
      const { type, id } = this.parseTopic(topic)
      return shardOf(twinKey(type, id), this.o.shards) % count
    } catch {
      return shardOf(topic, this.o.shards) % count
    }
  }

  private parseTopic(topic: string): { type: string; id: string; event: string } {
    const levels = topic.length <= MAX_TOPIC_LENGTH ? topic.split('/') : null
    const match = levels && this.o.registry.matchTopic(levels)
    if (!match || match.type === undefined) {
      throw new TwinError('TWIN_ERR_BAD_TOPIC', `topic "${truncate(topic, 120)}" matches no twin topic template (${this.o.registry.filters.join(', ')})`)
    }
    return match as { type: string; id: string; event: string }
  }

  private inputDeadLetter(d: InputDeadLetter): Promise<void> {
    return this.deadLetter(d.error, d.topic, d.payload, d.src, d.event)
  }

  private async deadLetter(err: TwinError, topic: string, payload: Buffer | string, src: 'mqtt' | 'api', event?: string): Promise<void> {
    const shard = shardOf(topic, this.o.shards)
    const k = this.o.keys.shard(shard)
    const fields = deadLetterFields({ code: err.code, reason: err.message, topic: truncate(topic, 512), ...(event !== undefined ? { event } : {}), payload: keptPayload(payload), src })
    await this.enqueue(shard, k.dead, ['MAXLEN', '~', String(this.o.deadLetterMaxLen), '*', ...fields], err.code)
    this.stats.deadLetters++
    this.o.log.debug({ code: err.code, topic: truncate(topic, 120) }, 'dead letter')
  }

  /**
   * Appends one entry. Redis auto-pipelining sends every write made in the
   * same tick in one round trip per node, in call order. With `wait`, the
   * write waits at the gate while Redis or the shard cannot take it, and a
   * write Redis refused (never carried out) waits and is tried again;
   * without, the caller gets the reason at once.
   */
  private async enqueue(shard: number, key: string, fields: string[], reason?: string, wait = true, gone?: AbortSignal): Promise<string> {
    const xadd = this.o.redis.xadd as unknown as (key: string, ...args: string[]) => Promise<string>
    for (;;) {
      if (!wait) this.o.gate?.check(shard)
      const held = wait ? this.o.gate?.pass(shard) : undefined
      if (held) await held
      if (gone?.aborted) throw new WriteCancelled()
      try {
        const [id] = await Promise.all([
          xadd.call(this.o.redis, key, ...fields),
          reason ? this.o.redis.hincrby(this.o.keys.shard(shard).deadCounts, reason, 1) : undefined,
        ])
        return id
      } catch (err) {
        if (!this.o.health?.reportWriteError(err)) throw err
        if (!wait) throw new TwinError('TWIN_ERR_REDIS_UNAVAILABLE', `Redis refused the write (${(err as Error).message.split('\n')[0]!.slice(0, 120)}); nothing was written: retry later`)
      }
    }
  }
}
