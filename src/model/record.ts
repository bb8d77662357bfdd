import type { AnyMachineSnapshot, EventObject, StateValue } from 'xstate'
import { splitTwinKey } from './ids.ts'
import { toJsonValue } from './values.ts'
import type { Twin, TwinEvent } from '../client/protocol.ts'

/**
 * A twin as the engine keeps it: one record per twin (and rule actor), stored
 * in its shard's hash (store/twinRecords.ts encodes it). Short keys: this is
 * per device.
 */
export interface TwinRecord {
  /** state value */
  v: StateValue
  /** context */
  c: unknown
  /** revision: +1 for every applied event that changed state, context or timers */
  r: number
  /** engine time of the last applied event (ms) */
  u: number
  /** pending timers: timer id -> [due time ms, event, arming order] */
  t: Record<string, PendingTimer>
  /** definition version that wrote this record */
  d: number
  /** attributes (building, site, area…): set by `attributes` events, used to group twins for rules */
  a?: Record<string, string>
  /** device commands by name: the last one sent, desired vs. acknowledged (a device shadow) */
  k?: Record<string, CommandState>
  /** history: the last HISTORY_LENGTH transitions, oldest first */
  h?: HistoryEntry[]
  /** per source shard, the last outbox id applied from it (rule feeds and commands: exactly once) */
  s?: Record<string, string>
  /** XState history values: history state node id -> ids of the state nodes it remembers */
  hv?: Record<string, string[]>
  /** 'done' once the machine reached a top-level final state: it takes no more events */
  st?: 'done'
  /** the machine's output, once done */
  o?: unknown
  /** 1 when context, timer events or output hold values JSON cannot carry (stored with the faithful encoding) */
  x?: 1
  /** the tags of the state it was counted with (core/stateCounts.ts); absent in records older than the counts */
  g?: string[]
  /** the indicators of its definition that held when it was counted */
  i?: string[]
}

/**
 * A pending timer: due time (ms), the event it raises, and its arming order
 * (timers due at once fire in the order they were armed, as in XState).
 * Timers armed before the order was kept have none and fire first.
 */
export type PendingTimer = [due: number, event: EventObject, seq?: number]

/** The last command of one name sent to a twin's device. */
export interface CommandState {
  /** correlation id: the device acknowledges with it */
  id: string
  /** what was asked (the desired state) */
  payload: Record<string, unknown>
  status: 'pending' | 'acked' | 'rejected' | 'timedOut'
  /** who asked: a rule actor or twin key, or 'api' */
  by: string
  sentAt: number
  /** when it times out while pending */
  due: number
  /** when the device answered (acked or rejected) or it timed out */
  doneAt?: number
  /** the device's reason, when rejected */
  reason?: string
  /** what the device reported with its ack */
  reported?: Record<string, unknown>
}

/** One transition in a twin's history: the answer to "why is elevator 12 in fault?". */
export interface HistoryEntry {
  /** revision after the step */
  r: number
  /** engine time */
  at: number
  /** event or timer that caused it */
  e: string
  /** state value before and after */
  f: StateValue
  t: StateValue
  /** names of the derived events it emitted */
  x?: string[]
}

/** A twin in memory: its record and the machine snapshot restored from it. */
export interface LiveTwin {
  snapshot: AnyMachineSnapshot
  record: TwinRecord
}

/** An event as the machine sees it: the engine stamps the time in `at`. */
export interface MachineEvent extends EventObject {
  at: number
}

/**
 * What apps see of a twin (HTTP, WebSocket, change notices): the protocol's
 * `Twin` (src/client/protocol.ts, shared with the client), commands typed.
 */
export interface TwinView extends Twin {
  commands?: Record<string, CommandState>
}

/** An event a twin emitted, with a stable id for de-duplication (DESIGN.md decision 3). */
export type DerivedEvent = TwinEvent

/** The app's view of a record; `tags` come from the live snapshot (readers without one restore it). */
export function toView(key: string, record: TwinRecord, tags?: ReadonlySet<string>): TwinView {
  const { type, id } = splitTwinKey(key)
  const view: TwinView = { type, id, value: record.v, context: record.x ? toJsonValue(record.c) : record.c, rev: record.r, updatedAt: record.u }
  if (tags?.size) view.tags = [...tags]
  if (record.a) view.attributes = record.a
  if (record.k) view.commands = record.k
  const timers = pendingTimers(record)
  if (timers.length) view.timers = timers
  return view
}

/** A record's pending timers as `{ id, due }`, soonest first; timers due at once in arming order. */
export function pendingTimers(record: TwinRecord): Array<{ id: string; due: number }> {
  const out: Array<{ id: string; due: number; seq: number }> = []
  for (const id in record.t) {
    const [due, , seq] = record.t[id]!
    out.push({ id, due, seq: seq ?? -1 })
  }
  if (out.length > 1) out.sort((a, b) => a.due - b.due || a.seq - b.seq)
  return out.map(({ id, due }) => ({ id, due }))
}
