import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../support/env.ts'

/** One log line from a real process, whose stdout is a pipe (not a terminal). */
function logLine(format: string): string {
  const code = `const { createLogger } = await import(${JSON.stringify(join(ROOT, 'src/observability/log.ts'))}); createLogger('info', 'twin-engine', ${JSON.stringify(format)}).info({ shard: 3 }, 'hello')`
  return execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8' }).trim()
}

describe('LOG_FORMAT', () => {
  it('json: one JSON object a line, for log collectors; auto is json when stdout is not a terminal', () => {
    for (const format of ['json', 'auto']) expect(JSON.parse(logLine(format))).toMatchObject({ level: 30, name: 'twin-engine', shard: 3, msg: 'hello' })
  })

  it('pretty: a readable line', () => {
    const line = logLine('pretty')
    expect(() => JSON.parse(line)).toThrow()
    expect(line).toMatch(/INFO.*twin-engine.*hello/)
    expect(line).toMatch(/shard: 3/)
  })
})
