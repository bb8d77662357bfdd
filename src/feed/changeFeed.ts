import type { Logger } from 'pino'
import type { ChangeBus } from './changeBus.ts'
import { toJson } from './serialise.ts'
import type { DerivedEvent, TwinView } from '../model/record.ts'
import type { Keys } from '../store/keys.ts'
import { duplicateRedis, isCluster, type RedisClient } from '../store/redis.ts'

/** How often a worker asks Redis whether an API process elsewhere listens to the feed. */
export const FEED_CHECK_MS = 250

/**
 * Carries change notices and derived events from workers to every API process
 * through Redis pub/sub, so an app may connect to any API process
 * (DESIGN.md: "after commit: change notices to API nodes").
 *
 * One message per worker step: `{"w":<worker id>,"v":[views],"d":[derived]}`.
 * An API process in the same process as a worker already has that worker's
 * notices in memory and skips its messages.
 *
 * On a standalone Redis a worker publishes only while an API process
 * elsewhere listens (PUBSUB NUMSUB, checked every FEED_CHECK_MS, less this
 * process's own subscription): one process with every role does not pay for
 * a feed nobody reads (about 10 µs an event, docs/benchmarks.md). A new API
 * process waits out one check after subscribing before it serves, so no
 * notice it should see is skipped. On Redis Cluster NUMSUB counts one node's
 * subscribers only: workers always publish.
 */
export class ChangeFeedPublisher {
  /** API processes elsewhere listening, as of the last check (assumed some until checked) */
  private listeners = 1
  private readonly timer: NodeJS.Timeout | undefined

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly bus: ChangeBus,
  ) {
    if (isCluster(redis)) return
    void this.check()
    this.timer = setInterval(() => void this.check(), FEED_CHECK_MS)
    this.timer.unref()
  }

  publish(workerId: string, views: readonly TwinView[], derived: readonly DerivedEvent[]): void {
    if (this.listeners <= 0 || (views.length === 0 && derived.length === 0)) return
    const message = `{"w":${JSON.stringify(workerId)},"v":[${views.map(toJson).join(',')}],"d":[${derived.map(toJson).join(',')}]}`
    // Fire and forget: a lost notice costs a live update, never state (apps re-read on reconnect).
    this.redis.publish(this.keys.changes, message).catch(() => undefined)
  }

  stop(): void {
    clearInterval(this.timer)
  }

  private async check(): Promise<void> {
    try {
      const reply = (await this.redis.pubsub('NUMSUB', this.keys.changes)) as Array<string | number>
      this.listeners = Number(reply[1] ?? 0) - this.bus.feedSubscribers
    } catch {
      // Redis away: keep publishing as before; the next check decides again.
      this.listeners = Math.max(this.listeners, 1)
    }
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
  options.bus.feedSubscribers++
  // Every worker elsewhere sees this subscription at its next check: serve only then.
  await new Promise((r) => setTimeout(r, FEED_CHECK_MS * 1.5))
  return async () => {
    options.bus.feedSubscribers--
    await sub.quit().catch(() => undefined)
  }
}
