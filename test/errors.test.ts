import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { settings } from '../src/config.ts'
import { ErrorCodes } from '../src/errors.ts'
import { ROOT } from './support/env.ts'

describe('documentation matches the code', () => {
  it('documents every error code in docs/errors.md, and no code that does not exist', () => {
    const doc = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8')
    const documented = new Set(doc.match(/TWIN_ERR_[A-Z_]+/g))
    expect([...documented].sort()).toEqual(Object.keys(ErrorCodes).sort())
  })

  it('lists every setting with its variable, flag and default in the README', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    for (const setting of Object.values(settings)) {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${setting.env}\` |`))
      expect(row, setting.env).toBeDefined()
      expect(row).toContain(`\`${setting.flag.split(' ')[0]}\``)
      const def: unknown = setting.default
      const partition = def as { index?: number; count?: number }
      const shown = Array.isArray(def) ? def.join(',') : partition && typeof partition === 'object' && partition.count ? `${partition.index}/${partition.count}` : def
      if (shown !== undefined) expect(row).toContain(`\`${String(shown)}\``)
    }
  })
})
