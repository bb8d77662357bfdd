/**
 * The subscriber of the broker-ceiling measurement: a plain mqtt.js client
 * that records publish-to-receive latency of every message, with no twin
 * work in between. Publishers stamp each payload with `_t`, their send time
 * as `performance.timeOrigin + performance.now()` (ms): that clock is shared
 * by processes on one machine and finer than Date.now().
 *
 *   node --import tsx load/reference/mqttSink.ts --url mqtt://127.0.0.1:1883 [--topic 'devices/#']
 *
 * stdout, one JSON document per line after `READY {}` (printed once subscribed):
 *   {"type":"progress","received":<total>,"histogram":"<base64>"}  every second; the
 *       histogram holds only that second's latencies
 *   {"type":"final","received":<total>,"histogram":"<base64>"}     on SIGTERM/SIGINT,
 *       all latencies; then the process exits 0
 * Histograms: hdr-histogram-js, compressed base64, values in microseconds.
 */
import { Command } from 'commander'
import * as hdr from 'hdr-histogram-js'
import mqtt from 'mqtt'

const options = new Command()
  .requiredOption('--url <url>', 'MQTT broker to subscribe to')
  .option('--topic <filter>', 'subscription filter', 'devices/#')
  .parse()
  .opts<{ url: string; topic: string }>()

// Up to an hour in microseconds at 3 significant digits: a stalled run stays
// measurable, and the coordinator merges these with the generators' histograms.
const histogram = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 })
const total = histogram()
const second = histogram()
let received = 0

const client = await mqtt.connectAsync(options.url, { clientId: `ref-sink-${process.pid}` })
client.on('message', (_topic, payload) => {
  received++
  const now = performance.timeOrigin + performance.now()
  let sentAt: unknown
  try {
    sentAt = (JSON.parse(payload.toString()) as { _t?: unknown })._t
  } catch {
    return // counted, but a payload without a send time has no latency
  }
  if (typeof sentAt !== 'number') return
  // Clamped at 0: timeOrigin is rounded per process, so a same-instant receive can read a hair negative.
  const micros = Math.max(0, Math.round((now - sentAt) * 1000))
  total.recordValue(micros)
  second.recordValue(micros)
})
await client.subscribeAsync(options.topic, { qos: 1 })
process.stdout.write('READY {}\n')

const line = (type: string, h: hdr.Histogram) => `${JSON.stringify({ type, received, histogram: hdr.encodeIntoCompressedBase64(h) })}\n`
const ticker = setInterval(() => {
  process.stdout.write(line('progress', second))
  second.reset()
}, 1000)

let stopping = false
function stop(): void {
  if (stopping) return
  stopping = true
  clearInterval(ticker)
  // Write before closing anything: the final line is the measurement.
  process.stdout.write(line('final', total), () => {
    client.end(true, () => process.exit(0))
  })
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
