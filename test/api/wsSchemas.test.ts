import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { clientSchemas, serverSchemas } from '../../src/api/ws/schemas.ts'
import { ROOT } from '../support/env.ts'

/**
 * src/api/ws/schemas.ts is the one source of truth; docs/schemas/ws-*.json are
 * copies for readers and other languages. `UPDATE_SCHEMAS=1` rewrites them.
 */
const all = [
  ...Object.entries(clientSchemas).map(([name, s]) => [`ws-client-${name}.json`, s] as const),
  ...Object.entries(serverSchemas).map(([name, s]) => [`ws-server-${name}.json`, s] as const),
]

describe('WebSocket message schemas in the docs', () => {
  it('docs/schemas holds every message schema exactly as the server validates it, and protocol.md links each', () => {
    const protocol = readFileSync(join(ROOT, 'docs/protocol.md'), 'utf8')
    for (const [file, schema] of all) {
      const path = join(ROOT, 'docs/schemas', file)
      const text = `${JSON.stringify(schema, null, 2)}\n`
      if (process.env.UPDATE_SCHEMAS === '1') writeFileSync(path, text)
      expect(readFileSync(path, 'utf8'), `${file} is out of date: run UPDATE_SCHEMAS=1 npx vitest run test/api/wsSchemas.test.ts`).toBe(text)
      expect(protocol, `docs/protocol.md links schemas/${file}`).toContain(`(schemas/${file})`)
    }
  })
})
