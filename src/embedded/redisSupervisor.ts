import type { Logger } from 'pino'
import { startManagedRedis, type ManagedRedis } from './redisServer.ts'

export interface SupervisedRedis {
  readonly url: string
  /** restarts so far */
  readonly restarts: number
  stop(): Promise<void>
}

/** First wait before a restart, doubled after each failed try, up to MAX_BACKOFF_MS. */
const FIRST_BACKOFF_MS = 100
const MAX_BACKOFF_MS = 10_000
/** A server that stayed up this long resets the back-off. */
const STABLE_MS = 60_000

/**
 * Keeps the managed redis-server running (issue 15: killed, it used to stay
 * dead and the engine waited forever). When it exits without being asked to,
 * it is started again on the same data directory and port (so every
 * connection's URL stays right and its reconnects find it), with back-off
 * between failed tries, and each step is logged. Redis replays its AOF on
 * start, so nothing it acknowledged is lost.
 */
export function superviseRedis(first: ManagedRedis, o: { dataDir: string; log: Logger }): SupervisedRedis {
  let current = first
  let stopping = false
  let restarts = 0
  let backoff = FIRST_BACKOFF_MS
  let wake: (() => void) | undefined

  const watch = async (): Promise<void> => {
    while (!stopping) {
      const startedAt = Date.now()
      const how = await current.exited
      if (stopping) return
      if (Date.now() - startedAt > STABLE_MS) backoff = FIRST_BACKOFF_MS
      o.log.error({ port: current.port, how, restartInMs: backoff }, 'managed redis-server died; restarting it on the same data')
      for (;;) {
        await new Promise<void>((resolve) => {
          wake = resolve
          setTimeout(resolve, backoff)
        })
        if (stopping) return
        try {
          current = await startManagedRedis({ dataDir: o.dataDir, port: current.port, logger: o.log })
          restarts++
          o.log.warn({ port: current.port, restarts }, 'managed redis-server restarted')
          break
        } catch (err) {
          backoff = Math.min(backoff * 2, MAX_BACKOFF_MS)
          o.log.error({ err, retryInMs: backoff }, 'restarting the managed redis-server failed; trying again')
        }
      }
    }
  }
  const watching = watch()

  return {
    url: first.url,
    get restarts() {
      return restarts
    },
    stop: async () => {
      stopping = true
      wake?.()
      const stopped = current
      await stopped.stop()
      await watching
      // A restart that was under way when stop came.
      if (current !== stopped) await current.stop()
    },
  }
}
