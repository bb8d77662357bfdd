/**
 * Reference "broker ceiling": aedes exactly as the engine embeds it
 * (startEmbeddedBroker, same host), with no intercept. Publishers plus
 * load/reference/mqttSink.ts on top of it measure what MQTT alone costs, so an
 * engine figure can be read against it (load/ issue: references in the same run).
 *
 *   node --import tsx load/reference/broker.ts --mqtt-port 0
 *
 * stdout: exactly one line `READY {"mqttPort":N,"httpPort":0}` once it listens.
 * SIGTERM/SIGINT: closes the broker and exits 0.
 */
import { Command, InvalidArgumentError } from 'commander'
import { startEmbeddedBroker } from '../../src/embedded/broker.ts'

const options = new Command()
  .option('--mqtt-port <n>', 'MQTT port (0: a free port)', (raw: string) => {
    const n = Number(raw)
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port, 0-65535')
    return n
  }, 0)
  .parse()
  .opts<{ mqttPort: number }>()

// 127.0.0.1: the engine's default MQTT_HOST, so both sit behind the same loopback path.
const broker = await startEmbeddedBroker({ port: options.mqttPort, host: '127.0.0.1' })
// httpPort 0: same READY shape as the other references, and there is no HTTP here.
process.stdout.write(`READY ${JSON.stringify({ mqttPort: broker.port, httpPort: 0 })}\n`)

let stopping = false
async function stop(): Promise<void> {
  if (stopping) return
  stopping = true
  await broker.close()
  process.exit(0)
}
process.on('SIGTERM', () => void stop())
process.on('SIGINT', () => void stop())
