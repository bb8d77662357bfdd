import type { Logger } from 'pino'
import type { ChangeBus } from './changeBus.ts'
import { toJson } from './serialise.ts'
import type { DerivedEvent, TwinView } from '../model/record.ts'
import type { Keys } from '../store/keys.ts'
import { duplicateRedis, type RedisClient } from '../store/redis.ts'

/**
 * Carries change notices and derived events from workers to every API process
 * through Redis pub/sub, so an app may connect to any API process
 * (DESIGN.md: "after commit: change notices to API nodes").
 *
 * One message per worker step: `{"w":<worker id>,"v":[views],"d":[derived]}`.
 * An API process in the same process as a worker already has that worker's
 * notices in memory and skips its messages.
 */
export class ChangeFeedPublisher {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  publish(workerId: string, views: readonly TwinView[], derived: readonly DerivedEvent[]): void {
    if (views.length === 0 && derived.length === 0) return
    const message = `{"w":${JSON.stringify(workerId)},"v":[${views.map(toJson).join(',')}],"d":[${derived.map(toJson).join(',')}]}`
    // Fire and forget: a lost notice costs a live update, never state (apps re-read on reconnect).
    this.redis.publish(this.keys.changes, message).catch(() => undefined)
  }
}

/** Subscribes an API process's ChangeBus to the feed. Returns a stop function. */
export async function subscribeChangeFeed(options: {
  redis: RedisClient
  keys: Keys
  bus: ChangeBus
  /** the id of a worker in this process, whose notices arrive in memory */
  localWorkerId?: string
  log: Logger
}): Promise<() => Promise<void>> {
  const sub = duplicateRedis(options.redis, 'change-feed')
  // The local worker's own notices came in memory: recognised by their first bytes, never parsed.
  const own = options.localWorkerId === undefined ? undefined : `{"w":${JSON.stringify(options.localWorkerId)},`
  sub.on('message', (_channel: string, message: string) => {
    if (own !== undefined && message.startsWith(own)) return
    let parsed: { w: string; v: TwinView[]; d: DerivedEvent[] }
    try {
      parsed = JSON.parse(message) as typeof parsed
    } catch (err) {
      options.log.warn({ err }, 'unreadable change notice')
      return
    }
    for (const view of parsed.v) options.bus.publishChange(view)
    for (const event of parsed.d) options.bus.publishDerived(event)
  })
  await sub.subscribe(options.keys.changes)
  return async () => {
    await sub.quit().catch(() => undefined)
  }
}
