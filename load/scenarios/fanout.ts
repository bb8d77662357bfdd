import WebSocket from 'ws'
import { measure } from '../lib/measure.ts'
import { LOAD_TWINS, report, simPlan, type ScenarioOptions } from '../lib/scenario.ts'
import { engineTarget } from '../lib/targets.ts'
import type { LoadReport } from '../lib/types.ts'

/**
 * `fanout`: 1,000 WebSocket clients each subscribed to every meter twin, while
 * meters publish; measures the messages/s the API process delivers and its
 * event-loop delay. Demand = rate × clients (100 events/s → 100K messages/s).
 */
export async function fanout(o: ScenarioOptions): Promise<LoadReport> {
  const clients = Number(o.clients ?? 1000)
  const devices = o.devices ?? 1000
  const rate = o.rate ?? 100
  const target = await engineTarget({ TWINS_DIR: LOAD_TWINS })
  const sockets: WebSocket[] = []
  let delivered = 0
  let closed = 0
  let conflatedNotices = 0
  let conflatedChanges = 0
  const closeCodes: Record<number, number> = {}
  try {
    for (let i = 0; i < clients; i++) {
      const ws = new WebSocket(target.wsUrl!)
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
      ws.on('message', (data: Buffer) => {
        delivered++
        // Cheap checks on the raw frame: the op is at a fixed place in every server message.
        if (data[7] === 0x63 && data.includes('"conflated":true', 20)) conflatedChanges++
        else if (data.includes('{"op":"conflated"')) conflatedNotices++
      })
      ws.on('close', (code) => {
        closed++
        closeCodes[code] = (closeCodes[code] ?? 0) + 1
      })
      ws.send(JSON.stringify({ op: 'subscribe', type: 'meter' }))
      sockets.push(ws)
    }
    const perSecond: number[] = []
    let last = 0
    const baseline = delivered
    const result = await measure(target, { ...simPlan(o, devices, rate, o.duration), types: ['meter'], devicesPerType: devices, mqttUrl: target.mqttUrl }, () => {
      perSecond.push(delivered - last)
      last = delivered
    })
    const health = await target.engine!.get('/health')
    const steady = perSecond.slice(2, -2)
    const outbound = Math.round(steady.reduce((a, b) => a + b, 0) / Math.max(1, steady.length))
    const { perDevice: _, ...rest } = result
    rest.description = `${clients} WebSocket clients × every meter, ${rate} events/s`
    // ws: the API process's WebSocket counters (src/api/ws/hub.ts WsStats): conflations, dropped events, slow closes, peak unsent bytes.
    rest.extra = {
      ...rest.extra, clients, outboundMessagesPerSecond: outbound, deliveredTotal: delivered - baseline, clientsClosed: closed, closeCodes: { ...closeCodes },
      conflatedNotices, conflatedChanges, eventLoopDelayMs: health?.eventLoopDelayMs, ws: health?.ws,
    }
    return report('fanout', { ...o, clients, devices, rate }, [rest], {
      ratios: {},
      targets: [{ name: 'WebSocket fan-out per API process', goal: '≥ 100K messages/s', measured: `${outbound} messages/s`, met: outbound >= 100_000 }],
      notes: [
        'the clients run in the load tool process, on the same two cores as the engine',
        'conflated changes are counted as delivered messages: each carries the latest state of a twin',
      ],
    })
  } finally {
    for (const ws of sockets) ws.terminate()
    await target.stop()
  }
}
