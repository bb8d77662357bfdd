import { matchesState, type StateValue } from 'xstate'
import type { Keys } from './keys.ts'
import type { RedisClient } from './redis.ts'
import { decodeRecord } from './twinRecords.ts'
import { TwinError } from '../errors.ts'
import { shardOf, twinKey } from '../model/ids.ts'
import { type TwinRecord, toView, type TwinView } from '../model/record.ts'

export interface TwinPage {
  twins: TwinView[]
  /** pass back as `cursor` for the next page; absent on the last page */
  next?: string
}

/** Most index entries one list request examines, so a rare filter cannot make a request unbounded. */
export const MAX_SCAN = 5000
/** Index entries read per round trip while scanning. */
const CHUNK = 200

export interface ListOptions {
  type?: string
  /** state value as XState matches it: `moving`, or `normal.moving` for nested states */
  state?: string
  /** further server-side filter (GET /twins `where`) */
  match?: (twin: TwinView) => boolean
  limit: number
  cursor?: string
  /** most entries to examine; the page ends early with a cursor when reached (default MAX_SCAN) */
  maxScan?: number
}

/** Reads committed twins for apps (HTTP and the WebSocket initial state). */
export class TwinStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly shards: number,
  ) {}

  async get(type: string, id: string): Promise<TwinView | null> {
    const record = await this.getRecord(type, id)
    return record ? toView(twinKey(type, id), record) : null
  }

  /** The stored record itself (history `h`, pending timers …), or null. */
  async getRecord(type: string, id: string): Promise<TwinRecord | null> {
    const key = twinKey(type, id)
    const raw = await this.redis.hget(this.keys.shard(shardOf(key, this.shards)).twins, key)
    return raw ? (decodeRecord(raw)) : null
  }

  /** Many twins of one type by id, in one round trip; unknown ids are left out. */
  async getMany(type: string, ids: string[]): Promise<TwinView[]> {
    const keys = ids.map((id) => twinKey(type, id))
    const raws = await Promise.all(keys.map((key) => this.redis.hget(this.keys.shard(shardOf(key, this.shards)).twins, key)))
    const out: TwinView[] = []
    raws.forEach((raw, i) => {
      if (raw) out.push(toView(keys[i]!, decodeRecord(raw)))
    })
    return out
  }

  /**
   * Twins in (shard, key) order, filtered on the server. The cursor is
   * `<shard>:<last key examined>`. At most `maxScan` index entries are
   * examined per call, so a filter that matches little returns a short (even
   * empty) page with a cursor instead of walking the whole data set: callers
   * follow `next` until it is absent.
   */
  async list(options: ListOptions): Promise<TwinPage> {
    const { type, limit, state, match } = options
    let [shard, after] = parseCursor(options.cursor, this.shards)
    const twins: TwinView[] = []
    let budget = Math.max(options.maxScan ?? MAX_SCAN, limit)
    const filtered = state !== undefined || match !== undefined
    while (shard < this.shards && twins.length < limit && budget > 0) {
      const k = this.keys.shard(shard)
      const min = after ? `(${after}` : type ? `[${type}/` : '-'
      const max = type ? `[${type}/\xff` : '+'
      // Unfiltered, every entry read is returned: read no more than the page needs.
      const want = Math.min(budget, filtered ? Math.max(CHUNK, limit - twins.length) : limit - twins.length)
      const members = await this.redis.zrangebylex(k.index, min, max, 'LIMIT', 0, want)
      let consumed = members.length
      if (members.length) {
        const raws = await this.redis.hmget(k.twins, ...members)
        for (let i = 0; i < members.length; i++) {
          const raw = raws[i]
          after = members[i]!
          if (raw) {
            const view = toView(members[i]!, decodeRecord(raw))
            const keep = (!state || matchesState(state as StateValue, view.value as StateValue)) && (!match || match(view))
            if (keep) twins.push(view)
          }
          if (twins.length === limit) {
            consumed = i + 1
            break
          }
        }
      }
      budget -= consumed
      if (members.length < want && consumed === members.length) {
        shard++
        after = ''
      }
    }
    const done = shard >= this.shards
    return done ? { twins } : { twins, next: `${shard}:${after}` }
  }
}

/** A cursor this store handed out, or TWIN_ERR_BAD_REQUEST: a bad cursor must not restart the listing silently. */
function parseCursor(cursor: string | undefined, shards: number): [number, string] {
  if (!cursor) return [0, '']
  const m = /^(\d{1,5}):(.*)$/s.exec(cursor)
  const shard = Number(m?.[1])
  if (!m || shard >= shards) throw new TwinError('TWIN_ERR_BAD_REQUEST', 'cursor is not one this engine handed out: pass back the `next` of the previous page unchanged')
  return [shard, m[2]!]
}
