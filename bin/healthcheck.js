#!/usr/bin/env node
// The image's HEALTHCHECK: GET /health of this very process (every role serves
// it), over HTTPS when the API has a certificate (HTTP_TLS_CERT_FILE). It asks
// itself on loopback, so the certificate's name is not checked. Exit 0 when
// the answer is 200 "ok"; 503 "degraded" (Redis away, broker link down) is 1.
import { request as http } from 'node:http'
import { request as https } from 'node:https'

const port = Number(process.env.HTTP_PORT || 8080)
const tls = Boolean(process.env.HTTP_TLS_CERT_FILE)
const req = (tls ? https : http)({ host: '127.0.0.1', port, path: '/health', timeout: 2500, rejectUnauthorized: false }, (res) => {
  res.resume()
  process.exit(res.statusCode === 200 ? 0 : 1)
})
req.on('timeout', () => req.destroy(new Error('timed out')))
req.on('error', () => process.exit(1))
req.end()
