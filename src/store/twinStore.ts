import { matchesState, type StateValue } from 'xstate'
import type { TwinRecord } from '../runtime/twinDriver.ts'
import { toView, type TwinView } from '../runtime/shardBatch.ts'
import { shardOf, twinKey, type Keys } from './keys.ts'
import type { RedisClient } from './redis.ts'

export interface TwinPage {
  twins: TwinView[]
  /** pass back as `cursor` for the next page; absent on the last page */
  next?: string
}

/** Most index entries one list request examines, so a rare `state` filter cannot make a request unbounded. */
const SCAN_FACTOR = 20

/** Reads committed twins for apps (HTTP and the WebSocket initial state). */
export class TwinStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly shards: number,
  ) {}

  async get(type: string, id: string): Promise<TwinView | null> {
    const key = twinKey(type, id)
    const raw = await this.redis.hget(this.keys.shard(shardOf(key, this.shards)).twins, key)
    return raw ? toView(key, JSON.parse(raw) as TwinRecord) : null
  }

  /** Many twins of one type by id, in one round trip; unknown ids are left out. */
  async getMany(type: string, ids: string[]): Promise<TwinView[]> {
    const keys = ids.map((id) => twinKey(type, id))
    const raws = await Promise.all(keys.map((key) => this.redis.hget(this.keys.shard(shardOf(key, this.shards)).twins, key)))
    const out: TwinView[] = []
    raws.forEach((raw, i) => {
      if (raw) out.push(toView(keys[i]!, JSON.parse(raw) as TwinRecord))
    })
    return out
  }

  /**
   * Twins in (shard, key) order, optionally of one type and in one state
   * (`state` as XState matches it: `moving`, or `normal.moving` for nested
   * states). The cursor is `<shard>:<last key>`.
   */
  async list(options: { type?: string; state?: string; limit: number; cursor?: string }): Promise<TwinPage> {
    const { type, limit } = options
    const { state } = options
    let [shard, after] = parseCursor(options.cursor)
    const twins: TwinView[] = []
    let budget = limit * SCAN_FACTOR
    while (shard < this.shards && twins.length < limit && budget > 0) {
      const k = this.keys.shard(shard)
      const min = after ? `(${after}` : type ? `[${type}/` : '-'
      const max = type ? `[${type}/\xff` : '+'
      const want = Math.min(budget, limit - twins.length)
      const members = await this.redis.zrangebylex(k.index, min, max, 'LIMIT', 0, want)
      budget -= members.length
      if (members.length) {
        const raws = await this.redis.hmget(k.twins, ...members)
        members.forEach((key, i) => {
          const raw = raws[i]
          if (!raw) return
          const view = toView(key, JSON.parse(raw) as TwinRecord)
          if (!state || matchesState(state as StateValue, view.value as StateValue)) twins.push(view)
        })
        after = members[members.length - 1]!
      }
      if (members.length < want) {
        shard++
        after = ''
      }
    }
    const done = shard >= this.shards
    return done ? { twins } : { twins, next: `${shard}:${after}` }
  }
}

function parseCursor(cursor: string | undefined): [number, string] {
  if (!cursor) return [0, '']
  const colon = cursor.indexOf(':')
  const shard = Number(cursor.slice(0, colon))
  return [Number.isInteger(shard) && shard >= 0 ? shard : 0, colon >= 0 ? cursor.slice(colon + 1) : '']
}
