import { Command, Option } from 'commander'
import { runLocalCluster } from './localCluster.ts'
import { loadConfig, settings, type Config } from '../config.ts'
import { startDemoFleet } from '../demo/demoFleet.ts'
import { isTwinError, TwinError } from '../errors.ts'
import { createLogger } from '../observability/log.ts'
import { startEngine } from '../roles/engine.ts'
import { addImportCommand } from './iotEventsImport.ts'
import { addMigrateCommand } from './migrate.ts'
import { addReplayCommand } from './replay.ts'

const program = new Command('twin').description('twin-engine: real-time digital twins on XState, Redis and MQTT')

const start = program
  .command('start')
  .description('run the engine: embedded MQTT broker and managed redis-server unless MQTT_URL / REDIS_URL are set')
for (const setting of Object.values(settings)) {
  start.addOption(new Option(setting.flag, `${setting.doc} [env ${setting.env}]`))
}

/** The config from the environment, with the flags given to `command` on top. */
function configFrom(command: Command): Config {
  const overrides: Partial<Record<keyof Config, unknown>> = {}
  for (const [key, setting] of Object.entries(settings) as Array<[keyof Config, (typeof settings)[keyof Config]]>) {
    const name = setting.flag.startsWith('--no-') ? key : camel(setting.flag)
    if (command.getOptionValueSource(name) !== 'cli') continue
    const value = command.getOptionValue(name) as unknown
    if (typeof value !== 'string') {
      overrides[key] = value
      continue
    }
    try {
      overrides[key] = (setting.parse as (raw: string) => unknown)(value)
    } catch (err) {
      throw new TwinError('TWIN_ERR_CONFIG', `${setting.flag.split(' ')[0]} ${JSON.stringify(value)} is invalid: ${(err as Error).message}`)
    }
  }
  return loadConfig(process.env, overrides as Partial<Config>)
}

start.action(async () => {
  const config = configFrom(start)
  const engine = await startEngine(config)
  const fleet = await startDemoFleet(engine, config).catch(async (err: unknown) => {
    await engine.stop()
    throw err
  })
  let stopping = false
  const shutdown = (signal: string) => {
    if (stopping) return
    stopping = true
    engine.log.info({ signal }, 'stopping')
    Promise.resolve(fleet?.stop()).then(() => engine.stop()).then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGTERM', () => shutdown('SIGTERM'))
})

const cluster = program
  .command('cluster')
  .description('run a local multi-process cluster: managed redis-server, a front process (ingest + api + embedded broker) and N workers')
  .option('--workers <n>', 'worker processes', '3')
for (const key of ['mqttPort', 'httpPort', 'httpHost', 'dataDir', 'logLevel', 'auth', 'apiTokens', 'apiTokensFile', 'deviceCredentialsFile'] as const) {
  cluster.addOption(new Option(settings[key].flag, `${settings[key].doc} [env ${settings[key].env}]`))
}
cluster.action(async (options: { workers: string }) => {
  const workers = Number(options.workers)
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new TwinError('TWIN_ERR_CONFIG', '--workers expects an integer from 1 to 64')
  const config = configFrom(cluster)
  await runLocalCluster(config, workers, createLogger(config.logLevel, 'twin-cluster'))
  process.exit(0)
})

addImportCommand(program)
// Admin commands print their report on stdout: their log goes to stderr.
addMigrateCommand(program, configFrom, (config) => createLogger(config.logLevel, 'twin', config.logFormat, 2))
addReplayCommand(program, configFrom, (config) => createLogger(config.logLevel, 'twin', config.logFormat, 2))

function camel(flag: string): string {
  return flag.replace(/^--/, '').split(' ')[0]!.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
}

// One-shot commands exit when done, whatever client library keeps a handle open; `start` runs until stopped.
program.parseAsync().then(() => {
  if (program.args[0] !== 'start') process.exit(process.exitCode ?? 0)
}, (err: unknown) => {
  if (isTwinError(err)) {
    console.error(`twin: ${err.code}: ${err.message}`)
  } else {
    console.error(err)
  }
  process.exit(1)
})
