import type { TwinFilter } from './filter.ts'
import type { RecentChanges } from './recentChanges.ts'
import type { Prefixes, SendQueue } from './sendQueue.ts'
import { toJsonBytes, type FramePrefix } from '../../feed/serialise.ts'
import type { TwinView } from '../../model/record.ts'
import type { TwinPage, ListOptions } from '../../store/twinStore.ts'

/** Twins per snapshot page (and per store read). */
export const SNAPSHOT_PAGE = 500

/** Where a subscription's initial state comes from: committed twins, their tags, and the resume buffer. */
export interface InitialStateSource {
  store: {
    getMany(type: string, ids: string[]): Promise<TwinView[]>
    list(options: ListOptions): Promise<TwinPage>
  }
  tags: { attach(view: TwinView): TwinView }
  recent: Pick<RecentChanges, 'between'>
}

/** One subscription as its initial state sees it. */
export interface InitialStateTarget {
  p: Prefixes
  filter: TwinFilter
  /** twins currently in the subscription (state-dependent filters) */
  members: Set<string> | null
  /** rev sent per twin during the initial state */
  sent: Map<string, number>
  readonly ended: boolean
}

export interface InitialStateResult {
  /** twins that matched */
  count: number
  /** with `since`: twins the client held at their current rev, replayed from the buffer, or sent after a gap */
  resumed: { unchanged: number; replayed: number; gaps: number }
}

/**
 * Sends a subscription's current state, page by page, each page once the
 * socket has room (docs/protocol.md, "Resume"). With `since`, a twin the
 * client holds at its current rev is skipped, one it holds at an older rev
 * gets the missed changes from the resume buffer or a gap notice and its
 * state, and one that left the filter meanwhile gets `match: false`.
 * Replayed changes wait for the socket to drain like snapshot pages do (one
 * page can replay 500 twins × WS_RESUME_REVS changes).
 */
export async function sendInitialState(
  sub: InitialStateTarget,
  since: Record<string, number> | null,
  source: InitialStateSource,
  queue: SendQueue,
  send: (message: Record<string, unknown>) => void,
): Promise<InitialStateResult> {
  const { filter } = sub
  const result: InitialStateResult = { count: 0, resumed: { unchanged: 0, replayed: 0, gaps: 0 } }
  const page = async (views: TwinView[]) => {
    const state: TwinView[] = []
    // (prefix, JSON) pairs, framed as they are written: the JSON is the resume buffer's, not a copy.
    const after: Array<[FramePrefix, Buffer]> = []
    for (const view of views) {
      source.tags.attach(view)
      const known = since && Object.hasOwn(since, view.id) ? since[view.id]! : undefined
      if (!filter.matches(view)) {
        // The client holds a twin that left the filter while it was away.
        if (known !== undefined) after.push([sub.p.leave, toJsonBytes(view)])
        continue
      }
      result.count++
      sub.members?.add(view.id)
      sub.sent.set(view.id, view.rev)
      if (known === undefined) state.push(view)
      else if (known === view.rev) result.resumed.unchanged++
      else {
        const missed = known < view.rev ? source.recent.between(view.type, view.id, known, view.rev) : null
        if (missed) {
          result.resumed.replayed++
          for (const m of missed) after.push([sub.p.change, m.json])
        } else {
          result.resumed.gaps++
          send({ op: 'gap', sub: sub.p.id, id: view.id, from: known, to: view.rev })
          state.push(view)
        }
      }
    }
    if (state.length) send({ op: 'snapshot', sub: sub.p.id, twins: state })
    await queue.writeAll(after)
  }
  if (filter.ids) {
    const ids = [...filter.ids]
    for (let i = 0; i < ids.length && !sub.ended; i += SNAPSHOT_PAGE) {
      await queue.writable()
      const views = await source.store.getMany(filter.type, ids.slice(i, i + SNAPSHOT_PAGE))
      if (!sub.ended) await page(views)
    }
    return result
  }
  let cursor: string | undefined
  do {
    await queue.writable()
    if (sub.ended) return result
    // Resuming, twins that left the state are read too: the client gets `match: false` for them.
    const state = !since && filter.states?.length === 1 ? filter.states[0] : undefined
    const listed = await source.store.list({ type: filter.type, state, limit: SNAPSHOT_PAGE, cursor })
    if (sub.ended) return result
    await page(listed.twins)
    if (sub.ended) return result
    cursor = listed.next
  } while (cursor)
  return result
}
