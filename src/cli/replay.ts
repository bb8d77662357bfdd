import { Option, type Command } from 'commander'
import type { Logger } from 'pino'
import { DATA_SET_SETTINGS } from './migrate.ts'
import { openDataSet } from './dataSet.ts'
import { settings, type Config } from '../config.ts'
import { loadCandidateFile } from '../definitions/candidateFile.ts'
import { TwinError } from '../errors.ts'
import { replayRetained } from '../jobs/replay.ts'
import { formatReplayReport } from '../jobs/replayReport.ts'

/**
 * `twin replay --definition <file> [--type T] [--ids a,b] [--since 24h] [--json]`:
 * what a candidate definition would have done with the input the data set
 * retained (RETAIN_INPUT_MS), against what the running definitions do with
 * it, on virtual time, writing nothing (docs/twins.md, "What-if replay").
 */
export function addReplayCommand(program: Command, configFrom: (command: Command) => Config, logger: (config: Config) => Logger): void {
  const command = program
    .command('replay')
    .description('run a candidate definition over the input the engine retained and report how it differs from the running one (writes nothing)')
    .requiredOption('--definition <file>', 'the candidate twin or rule definition (a .ts or .js file exporting defineTwin / defineRule)')
    .option('--type <type>', 'the type replayed (default: the candidate\'s); a candidate of another type is refused')
    .option('--ids <ids>', 'only these twin ids (or rule groups), comma-separated')
    .option('--since <duration>', 'the window: the last 24h, 90m, 30s, 2d, or milliseconds', '24h')
    .option('--limit <n>', 'twins that differ listed in full', '100')
    .option('--json', 'print the report as JSON')
  for (const key of DATA_SET_SETTINGS) command.addOption(new Option(settings[key].flag, `${settings[key].doc} [env ${settings[key].env}]`))
  command.action(async (opts: { definition: string; type?: string; ids?: string; since: string; limit: string; json?: boolean }) => {
    const sinceMs = parseDuration(opts.since)
    const limit = Number(opts.limit)
    if (!Number.isInteger(limit) || limit < 0) throw new TwinError('TWIN_ERR_CONFIG', `--limit ${JSON.stringify(opts.limit)}: expected a whole number`)
    // The candidate is refused before anything connects.
    const candidate = await loadCandidateFile(opts.definition)
    const config = configFrom(command)
    const data = await openDataSet(config, logger(config))
    try {
      const ids = opts.ids?.split(',').map((s) => s.trim()).filter(Boolean)
      const report = await replayRetained({ redis: data.redis, keys: data.keys, shards: data.shards, registry: data.registry, candidate, type: opts.type, ids, sinceMs, limit })
      console.log(opts.json ? JSON.stringify(report, null, 2) : formatReplayReport(report))
    } finally {
      await data.close()
    }
  })
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `24h`, `90m`, `30s`, `2d`, `1500ms` or plain milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim())
  const ms = m ? Number(m[1]) * UNITS[m[2] ?? 'ms']! : NaN
  if (!Number.isFinite(ms) || ms <= 0) throw new TwinError('TWIN_ERR_CONFIG', `--since ${JSON.stringify(text)}: expected a duration such as 24h, 90m, 30s, 2d or milliseconds`)
  return Math.round(ms)
}
