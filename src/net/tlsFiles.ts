import { readFileSync } from 'node:fs'
import { TwinError } from '../errors.ts'

/** PEM material read from the files settings name (CA, certificate, key). */
export interface TlsMaterial {
  ca?: Buffer
  cert?: Buffer
  key?: Buffer
}

/**
 * Reads the files given for one TLS link, `{ setting name: path }`, at
 * startup, so a wrong path stops the process with TWIN_ERR_CONFIG naming the
 * setting rather than failing at the first connection. Undefined when no
 * file is given (the system's trust store and no client certificate).
 */
export function readTlsFiles(files: { ca?: [string, string | undefined]; cert?: [string, string | undefined]; key?: [string, string | undefined] }): TlsMaterial | undefined {
  const out: TlsMaterial = {}
  for (const part of ['ca', 'cert', 'key'] as const) {
    const [setting, path] = files[part] ?? ['', undefined]
    if (!path) continue
    try {
      out[part] = readFileSync(path)
    } catch (err) {
      throw new TwinError('TWIN_ERR_CONFIG', `${setting}=${path}: cannot read it (${(err as Error).message})`)
    }
  }
  if (!!out.cert !== !!out.key) {
    const [certName] = files.cert ?? ['the certificate']
    const [keyName] = files.key ?? ['the key']
    throw new TwinError('TWIN_ERR_CONFIG', `${certName} and ${keyName} go together: set both or neither`)
  }
  return Object.keys(out).length ? out : undefined
}
