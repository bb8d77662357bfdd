import { execFileSync } from 'node:child_process'
import { get } from 'node:https'
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TestPki {
  dir: string
  ca: string
  /** server certificate for 127.0.0.1 / localhost */
  serverCert: string
  serverKey: string
  /** issue a client certificate with this subject CN (and optional URI SAN) */
  client(name: string, cn: string, uriSan?: string): { cert: string; key: string }
  remove(): void
}

/** A throwaway CA, server and client certificates made with openssl at test time. */
export function makePki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'twin-pki-'))
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=twin-test-ca')
  const issue = (name: string, cn: string, ext: string) => {
    writeFileSync(join(dir, `${name}.ext`), ext)
    run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn.replace(/\//g, '\\/')}`)
    run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`)
    open()
    return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) }
  }
  // Readable by all: mosquitto started as root drops to its own user before reading them (test keys only).
  const open = () => {
    chmodSync(dir, 0o755)
    for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o644)
  }
  const server = issue('server', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n')
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    serverCert: server.cert,
    serverKey: server.key,
    client: (name, cn, uriSan) => issue(name, cn, `extendedKeyUsage=clientAuth\n${uriSan ? `subjectAltName=URI:${uriSan}\n` : ''}`),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}

/** GET over HTTPS trusting `ca`: status and body (JSON when it parses). */
export function httpsGet(url: string, ca: Buffer): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    get(url, { ca }, (res) => {
      let text = ''
      res.on('data', (d) => (text += d))
      res.on('end', () => {
        let body: unknown = text
        try { body = JSON.parse(text) } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, body })
      })
    }).on('error', reject)
  })
}
