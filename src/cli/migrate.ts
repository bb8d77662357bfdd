import { Option, type Command } from 'commander'
import type { Logger } from 'pino'
import { settings, type Config } from '../config.ts'
import { bullConnection } from '../effects/bullConnection.ts'
import { TwinError } from '../errors.ts'
import { MIGRATE_JOB, openAdminQueue, type MigrateJobData, type MigrateProgress } from '../jobs/migrateJob.ts'
import { formatMigrationReport, migrationReport, type MigrationReport } from '../jobs/migrationReport.ts'
import { streamIdAfter } from '../model/ids.ts'
import { META } from '../store/shardMeta.ts'
import { readCounts } from '../store/stateCounts.ts'
import { openDataSet, type DataSet } from './dataSet.ts'

/** The settings an admin command takes, as `twin start` does: where the data set is and which definitions to use. */
export const DATA_SET_SETTINGS = ['redisUrl', 'redisCluster', 'keyPrefix', 'dataDir', 'autoInstallRedis', 'twinsDir', 'rulesDir', 'logLevel'] as const

/** How often the command reports the job's progress. */
const POLL_MS = 500

/**
 * `twin migrate [--type T] [--dry-run] [--json]`: reports per type how many
 * stored twins are current, would migrate and would fail (with the first
 * failures and why), then — without `--dry-run` — migrates them all as a
 * BullMQ admin job run by the engine's workers, and waits until every
 * queued twin is applied (docs/twins.md, "Versions and migrations").
 */
export function addMigrateCommand(program: Command, configFrom: (command: Command) => Config, logger: (config: Config) => Logger): void {
  const command = program
    .command('migrate')
    .description('migrate stored twins to the current definition versions (the settings of twin start say where the data set is)')
    .option('--type <type>', 'only twins of this type (or rule)')
    .option('--dry-run', 'report what would migrate and what would fail; write nothing')
    .option('--json', 'print the report as JSON')
  for (const key of DATA_SET_SETTINGS) command.addOption(new Option(settings[key].flag, `${settings[key].doc} [env ${settings[key].env}]`))
  command.action(async (opts: { type?: string; dryRun?: boolean; json?: boolean }) => {
    const config = configFrom(command)
    const log = logger(config)
    const data = await openDataSet(config, log)
    try {
      if (opts.type !== undefined) data.registry.requireActor(opts.type)
      const report = await migrationReport(data.redis, data.keys, data.shards, data.drivers, opts.type)
      const print = (what: object, text: string) => console.log(opts.json ? JSON.stringify(what, null, 2) : text)
      if (opts.dryRun) {
        print({ dryRun: true, ...report }, formatMigrationReport(report))
        return
      }
      if (!opts.json) console.log(formatMigrationReport(report))
      const done = await runMigrateJob(data, opts.type, (p) => {
        if (!opts.json) console.log(`queued ${p.queued} of ${p.scanned} scanned (shard ${Math.min(p.shard + 1, data.shards)} of ${data.shards})`)
      })
      const after = await versionsStored(data, opts.type)
      print({ dryRun: false, before: report, job: done, after }, `migrated: ${done.queued} queued and applied; stored versions now ${JSON.stringify(after)}`)
    } finally {
      await data.close()
    }
  })
}

/**
 * Enqueues the migrate job, follows its progress, and waits until every
 * shard's worker has applied the last `$migrate` entry queued for it.
 */
async function runMigrateJob(data: DataSet, type: string | undefined, onProgress: (p: MigrateProgress) => void): Promise<MigrateProgress> {
  const connection = bullConnection(data.redis, 'twin-migrate-cli', false)
  const queue = openAdminQueue(connection, data.keys)
  try {
    const job = await queue.add(MIGRATE_JOB, { type } satisfies MigrateJobData, { attempts: 10, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: { age: 24 * 3600 }, removeOnFail: { age: 7 * 24 * 3600 } })
    let waited = 0
    for (;;) {
      await new Promise((r) => setTimeout(r, POLL_MS))
      waited += POLL_MS
      const state = await job.getState()
      const fresh = await queue.getJob(job.id!)
      if (fresh && typeof fresh.progress === 'object') onProgress(fresh.progress as MigrateProgress)
      if (state === 'completed') {
        const done = fresh!.returnvalue as MigrateProgress
        await appliedUpTo(data, done.lastIds)
        return done
      }
      if (state === 'failed' && (fresh?.attemptsMade ?? 0) >= 10) throw new TwinError('TWIN_ERR_INTERNAL', `the migrate job failed: ${fresh?.failedReason}`)
      if (waited === 10_000 && state === 'waiting') console.error('the migrate job waits for a worker: is the engine (a worker role) running on this data set?')
    }
  } finally {
    await queue.close()
    await connection.quit().catch(() => undefined)
  }
}

/** Waits until each shard's checkpoint is at or past the given inbox id. */
async function appliedUpTo(data: DataSet, lastIds: Record<number, string>): Promise<void> {
  for (const [shard, id] of Object.entries(lastIds)) {
    for (;;) {
      const cp = await data.redis.hget(data.keys.shard(Number(shard)).meta, META.checkpoint)
      if (cp && !streamIdAfter(id, cp)) break
      await new Promise((r) => setTimeout(r, POLL_MS))
    }
  }
}

async function versionsStored(data: DataSet, type: string | undefined): Promise<Record<string, Record<string, number>>> {
  const counts = await readCounts(data.redis, data.keys, data.shards, type)
  return Object.fromEntries(Object.entries(counts).map(([t, c]) => [t, c.versions]))
}

export type { MigrationReport }
