/**
 * The load tool: `npm run load -- --scenario NAME [options]`.
 *
 * Simulates fleets of elevators, meters and chargers over MQTT from several
 * generator processes, measures end to end (device publish → change on a
 * WebSocket) with HDR histograms, measures the references in the same run
 * (raw broker ceiling, in-memory pipeline), and writes JSON, Markdown and a
 * chart under load/results/<scenario>-<date>/. See docs/benchmarks.md.
 */
import { join } from 'node:path'
import { Command, Option } from 'commander'
import { ROOT } from '../test/support/env.ts'
import { writeReport } from './lib/report.ts'
import type { ScenarioOptions } from './lib/scenario.ts'
import { BROKERS } from './lib/targets.ts'
import type { LoadReport } from './lib/types.ts'
import { failover } from './scenarios/failover.ts'
import { fanout } from './scenarios/fanout.ts'
import { million } from './scenarios/million.ts'
import { ramp } from './scenarios/ramp.ts'
import { steady } from './scenarios/steady.ts'
import { timers } from './scenarios/timers.ts'

const scenarios: Record<string, (o: ScenarioOptions) => Promise<LoadReport>> = { steady, ramp, million, timers, fanout, failover }
/** The scenarios that can run on `--broker mosquitto`; the others always use the embedded aedes. */
const ON_ANY_BROKER = ['steady', 'ramp']

const int = (v: string) => {
  const n = Number(v)
  if (!Number.isFinite(n) || n < 0) throw new Error(`expected a number, got ${v}`)
  return n
}

const program = new Command('load')
  .requiredOption('--scenario <name>', `one of ${Object.keys(scenarios).join(', ')}`)
  .option('--rate <n>', 'events/s (default: per scenario)', int)
  .option('--duration <s>', 'seconds of each measured phase', int, 30)
  .option('--devices <n>', 'twins (default: per scenario)', int)
  .option('--generators <n>', 'generator processes', int, 2)
  .option('--connections <n>', 'MQTT connections per generator', int, 4)
  .option('--step <n>', 'ramp: rate increase per step', int)
  .option('--twins <n>', 'million/timers: twins stored', int)
  .option('--active <n>', 'million: active twins', int)
  .option('--clients <n>', 'fanout: WebSocket clients', int)
  .option('--delay <ms>', 'timers: watchdog delay of the probe twins (default 5000)', int)
  .option('--probes <n>', 'timers: twins whose firing is measured (default 20000)', int)
  .option('--lease-ttl <ms>', 'failover: LEASE_TTL_MS of the workers', int)
  .option('--no-references', 'skip the reference measurements')
  .addOption(
    new Option('--broker <name>', `where devices publish (${ON_ANY_BROKER.join(', ')}): aedes embedded in each target, or a mosquitto the load tool starts per target and phase (the engine on MQTT_URL, the references subscribed to it, its raw ceiling measured)`)
      .choices(BROKERS)
      .default('aedes'),
  )
  .parse()

const options = program.opts<ScenarioOptions & { scenario: string }>()
const scenario = scenarios[options.scenario]
if (!scenario) {
  console.error(`unknown scenario "${options.scenario}"; use one of ${Object.keys(scenarios).join(', ')}`)
  process.exit(2)
}
if (options.broker !== 'aedes' && !ON_ANY_BROKER.includes(options.scenario)) {
  console.error(`--broker ${options.broker}: only ${ON_ANY_BROKER.join(' and ')} run on another broker; ${options.scenario} uses the embedded aedes (leave --broker out)`)
  process.exit(2)
}
const result = await scenario(options)
const dir = join(ROOT, 'load/results', `${options.scenario}-${result.date.replace(/[:.]/g, '-')}`)
const files = await writeReport(dir, result)
console.log(`\n${files.markdown}\n`)
for (const t of result.targets) console.log(`${t.met === null ? '—' : t.met ? '✅' : '❌'} ${t.name}: ${t.measured} (goal ${t.goal})`)
process.exit(0)
