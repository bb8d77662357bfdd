import { Queue, Worker as BullWorker, type Job } from 'bullmq'
import type { Cluster, Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { Drivers } from '../core/drivers.ts'
import { bullConnection } from '../effects/bullConnection.ts'
import { TwinError } from '../errors.ts'
import { MIGRATE } from '../model/engineEvents.ts'
import { splitTwinKey } from '../model/ids.ts'
import { inboxFields } from '../store/inboxStream.ts'
import type { Keys } from '../store/keys.ts'
import type { RedisClient } from '../store/redis.ts'
import { decodeRecord } from '../store/twinRecords.ts'
import { scanShard } from './migrationScan.ts'

/** The BullMQ queue of admin jobs (DESIGN.md decision 9): long, resumable, with progress. */
export const ADMIN_QUEUE = 'admin'
export const MIGRATE_JOB = 'migrate'

export interface MigrateJobData {
  /** only twins of this type (or rule) */
  type?: string
}

/** How far a migrate job got: where it resumes after a crash, and what it queued. */
export interface MigrateProgress {
  shard: number
  /** HSCAN cursor within the shard */
  cursor: string
  scanned: number
  queued: number
  /** per shard, the inbox id of the last `$migrate` entry queued: applied once the shard's checkpoint passes it */
  lastIds: Record<number, string>
}

export function openAdminQueue(connection: Redis | Cluster, keys: Keys): Queue {
  return new Queue(ADMIN_QUEUE, { connection, prefix: keys.adminQueuePrefix })
}

/**
 * Walks every stored twin (of one type, or all) and queues a `$migrate`
 * inbox entry for each stored by an older version than this process's
 * definitions: the shard's owner migrates it in its normal, fenced commit,
 * never around its cache (docs/twins.md, "Versions and migrations").
 * Resumable: progress records the shard and scan cursor, and a retried job
 * goes on from there. Safe twice and beside live traffic: `$migrate` on a
 * current twin does nothing, and it is ordered in the inbox like any input.
 */
export function migrateProcessor(redis: RedisClient, keys: Keys, shards: number, drivers: Drivers) {
  return async (job: Job<MigrateJobData>): Promise<MigrateProgress> => {
    const saved = (typeof job.progress === 'object' ? job.progress : {}) as Partial<MigrateProgress>
    const progress: MigrateProgress = { shard: saved.shard ?? 0, cursor: saved.cursor ?? '0', scanned: saved.scanned ?? 0, queued: saved.queued ?? 0, lastIds: saved.lastIds ?? {} }
    for (; progress.shard < shards; progress.shard++, progress.cursor = '0') {
      const k = keys.shard(progress.shard)
      await scanShard(redis, k, progress.cursor, async (page, next) => {
        const stale = page.filter(([key, stored]) => needsMigration(drivers, key, stored, job.data.type))
        const ids = await Promise.all(stale.map(([key]) => {
          const { type, id } = splitTwinKey(key)
          return (redis.xadd as unknown as (key: string, ...args: string[]) => Promise<string>).call(redis, k.inbox, '*', ...inboxFields({ type, twinId: id, event: MIGRATE, payload: '{}' }))
        }))
        if (ids.length) progress.lastIds[progress.shard] = ids.at(-1)!
        progress.scanned += page.length
        progress.queued += stale.length
        progress.cursor = next
        await job.updateProgress({ ...progress })
      })
    }
    return progress
  }
}

function needsMigration(drivers: Drivers, key: string, stored: string, onlyType: string | undefined): boolean {
  const { type } = splitTwinKey(key)
  if (onlyType !== undefined && type !== onlyType) return false
  const driver = drivers.get(type)
  if (!driver) return false
  try {
    return decodeRecord(stored).d < driver.definition.version
  } catch {
    return false
  }
}

/** The admin jobs of a worker-role process: a BullMQ worker taking migrate jobs. */
export async function startAdminJobs(o: { redis: RedisClient; keys: Keys; shards: number; drivers: Drivers; log: Logger }): Promise<{ stop(): Promise<void> }> {
  const log = o.log.child({ component: 'admin-jobs' })
  const connection = bullConnection(o.redis, 'twin-admin-jobs', true, log)
  const process = migrateProcessor(o.redis, o.keys, o.shards, o.drivers)
  const worker = new BullWorker<MigrateJobData, MigrateProgress>(ADMIN_QUEUE, async (job) => {
    if (job.name !== MIGRATE_JOB) throw new TwinError('TWIN_ERR_ADMIN_JOB_UNKNOWN', `admin job "${job.name}" is not one this worker runs (only "${MIGRATE_JOB}"): a newer release queued it; run it with workers of that release`)
    log.info({ job: job.id, type: job.data.type }, 'migrating stored twins')
    const done = await process(job)
    log.info({ job: job.id, scanned: done.scanned, queued: done.queued }, 'migrate job queued every twin to migrate')
    return done
  }, { connection, prefix: o.keys.adminQueuePrefix, concurrency: 1 })
  worker.on('error', (err) => log.warn({ err }, 'admin jobs worker error'))
  await worker.waitUntilReady()
  return {
    async stop() {
      await worker.close()
      await connection.quit().catch(() => undefined)
    },
  }
}
