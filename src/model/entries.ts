import type { CommandMessage } from './commands.ts'
import type { DerivedEvent, TwinRecord } from './record.ts'
import type { ErrorCode } from '../errors.ts'

/**
 * What flows through a shard: the entries its inbox holds, the timers that
 * fall due, and what one applied batch writes to its outbox and dead letters.
 * The store encodes them (store/inboxStream.ts, store/outboxStream.ts,
 * store/deadLetters.ts); the pure core reads and produces them.
 */

/** One input read from a shard inbox: a device event, or an entry routed from another shard's outbox. */
export interface InboxEntry {
  /** stream id; its millisecond part is the event's engine time */
  id: string
  type: string
  twinId: string
  event: string
  /** payload JSON (validated at ingest, or written by the engine) */
  payload: string
  /**
   * For input routed from another shard's outbox (rule feeds, commands):
   * `<source shard>:<outbox id>`. A twin applies each source's entries once, in order.
   */
  source?: string
  /** read back from the shard's held stream (its id there): input held while the twin's version was ahead of its owner's */
  heldId?: string
}

/** A timer read from the shard's timer set because it fell due. */
export interface DueTimer {
  /** `type/id|timerId` (model/ids.ts timerMember) */
  member: string
  due: number
}

/** An entry of a shard's outbox, written in the same commit as the twins' state and relayed after it. */
export type OutboxEntry = DerivedOutboxEntry | RoutedOutboxEntry | PublishOutboxEntry | TopicOutboxEntry

/** A derived event: published on MQTT, handed to the sinks (webhooks), read by consumers. */
export interface DerivedOutboxEntry {
  kind: 'derived'
  event: DerivedEvent
}

/**
 * Input for another actor (a rule feed, or a command for a device's twin):
 * appended to the inbox of `to` as `event` with `payload` as is, tagged with
 * its source so the target applies it exactly once.
 */
export interface RoutedOutboxEntry {
  kind: 'routed'
  /** stable id: the source step's id base and the feed's index */
  id: string
  /** the twin key that produced it */
  from: string
  /** the target actor's twin key */
  to: string
  /** the target's inbox event: `<type>.changed`, `<type>.<derived event>` or `$command` */
  event: string
  /** the target's inbox payload (JSON) */
  payload: string
  at: number
}

/** A recorded command for the device itself: published QoS 1 to its commands topic. */
export interface PublishOutboxEntry {
  kind: 'publish'
  id: string
  /** the device's twin key */
  key: string
  name: string
  message: CommandMessage
  at: number
}

/**
 * A derived event's payload for an MQTT topic the event named (a definition's
 * `outputs` publish, ADR 0021): published QoS 1 by the relay, as is. The topic
 * was checked when the event was emitted (src/core/outputs.ts).
 */
export interface TopicOutboxEntry {
  kind: 'topic'
  /** the derived event's id and `:t` */
  id: string
  /** the twin key that produced it */
  key: string
  topic: string
  /** the bytes to publish, as text */
  payload: string
  at: number
}

/** A refused input, as written to the shard's dead-letter stream. */
export interface DeadLetterWrite {
  code: ErrorCode
  reason: string
  /** 'mqtt' or 'api' (refused at ingest) or 'worker' (refused by the twin) */
  src: 'mqtt' | 'api' | 'worker'
  topic?: string
  /** twin key */
  twin?: string
  event?: string
  /** the payload as received, cut to PAYLOAD_KEPT bytes */
  payload: string
}

/** Everything one applied batch of a shard writes, as the pure core decides it; the store commits it atomically. */
export interface ShardWrites {
  /** last inbox id applied; '' when the batch held only timers */
  checkpoint: string
  /** records of the twins the batch changed */
  records: Array<readonly [key: string, record: TwinRecord]>
  /** keys of twins the batch created (added to the index) */
  created: string[]
  /** timer members to remove (applied before the additions, so a re-armed timer survives) */
  timersRemoved: string[]
  timersAdded: Array<{ member: string; due: number }>
  outbox: OutboxEntry[]
  deadLetters: DeadLetterWrite[]
  /** changes to the shard's live counts of twins per type, state, tag and indicator */
  counts: CountDelta[]
  /**
   * Input held back, in order, for twins stored by a newer definition
   * version than this worker has (rolling upgrades): appended to the shard's
   * held stream, never applied here.
   */
  held: InboxEntry[]
  /** twins whose input is held from now on, with the version they are stored at */
  heldKeys: Array<{ key: string; version: number }>
  /** twins whose held input this batch applied: no longer held */
  unheld: string[]
  /** held-stream ids of the entries this batch applied */
  heldApplied: string[]
}

/**
 * What a twin counts towards in its shard's live counts (GET /twins/counts):
 * its type (`total`), the definition version it is stored at (`version`:
 * the index of stored versions that rolling upgrades and startup checks
 * read), every active state node (`state`, dotted paths, ancestors included:
 * `normal`, `normal.moving`), its tags, and the indicators its definition
 * declares that are true for it.
 */
export interface CountKey {
  type: string
  kind: 'total' | 'version' | 'state' | 'tag' | 'indicator'
  /** '' for total */
  name: string
}

export interface CountDelta extends CountKey {
  delta: number
}
