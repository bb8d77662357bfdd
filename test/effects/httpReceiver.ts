import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'

export interface Received {
  eventId: string
  webhook: string
  /** the request's path and query */
  url: string
  headers: IncomingHttpHeaders
  body: Record<string, any>
  /** the status the receiver answered */
  status: number
}

/**
 * A real local HTTP receiver on a free port. `answer(eventId, nth)` decides the
 * status of the nth (1-based) request for an event; every request is logged.
 */
export async function startReceiver(answer: (eventId: string, nth: number) => number): Promise<{ url: string; log: Received[]; delivered(): Received[]; close(): Promise<void> }> {
  const log: Received[] = []
  const server: Server = createServer((req, res) => {
    let text = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => (text += chunk))
    req.on('end', () => {
      const eventId = String(req.headers['x-twin-event-id'])
      const nth = log.filter((r) => r.eventId === eventId).length + 1
      const status = answer(eventId, nth)
      log.push({ eventId, webhook: String(req.headers['x-twin-webhook']), url: req.url ?? '', headers: req.headers, body: JSON.parse(text) as Record<string, any>, status })
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'nope')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}/hook`,
    log,
    delivered: () => log.filter((r) => r.status >= 200 && r.status < 300),
    close: () => new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}
