import { Command, Option } from 'commander'
import { loadConfig, settings, type Config } from '../config.ts'
import { startEngine } from '../engine.ts'
import { isTwinError } from '../errors.ts'

const program = new Command('twin').description('twin-engine: real-time digital twins on XState, Redis and MQTT')

const start = program
  .command('start')
  .description('run the engine: embedded MQTT broker and managed redis-server unless MQTT_URL / REDIS_URL are set')
for (const setting of Object.values(settings)) {
  start.addOption(new Option(setting.flag, `${setting.doc} [env ${setting.env}]`))
}

start.action(async () => {
  // A flag wins over the environment, which wins over the default.
  const overrides: Partial<Record<keyof Config, unknown>> = {}
  for (const [key, setting] of Object.entries(settings) as Array<[keyof Config, (typeof settings)[keyof Config]]>) {
    const name = setting.flag.startsWith('--no-') ? key : camel(setting.flag)
    if (start.getOptionValueSource(name) !== 'cli') continue
    const value = start.getOptionValue(name) as unknown
    overrides[key] = typeof value === 'string' ? (setting.parse as (raw: string) => unknown)(value) : value
  }
  const engine = await startEngine(loadConfig(process.env, overrides as Partial<Config>))
  let stopping = false
  const shutdown = (signal: string) => {
    if (stopping) return
    stopping = true
    engine.log.info({ signal }, 'stopping')
    engine.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGTERM', () => shutdown('SIGTERM'))
})

function camel(flag: string): string {
  return flag.replace(/^--/, '').split(' ')[0]!.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
}

program.parseAsync().catch((err: unknown) => {
  if (isTwinError(err)) {
    console.error(`twin: ${err.code}: ${err.message}`)
  } else {
    console.error(err)
  }
  process.exit(1)
})
