import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { EngineProcess } from '../support/engineProcess.ts'
import { waitFor } from '../support/env.ts'

/**
 * Definitions in a folder outside the checkout, as a container mounts them
 * (a ConfigMap, a volume): no package.json, no node_modules. xstate and the
 * public twin-engine entries must resolve to the engine's own copies, and .ts
 * files load as ES modules (issue 15).
 */
const root = mkdtempSync(join(tmpdir(), 'twin-defs-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let written: { twins: string; rules: string } | undefined

/**
 * Laid out as Kubernetes mounts a ConfigMap: the files live in a hidden
 * timestamped folder, `..data` links to it, and each visible name links
 * through `..data` (so a definition's real path is inside the hidden folder).
 */
function configMapLayout(dir: string, files: Record<string, string>): void {
  const hidden = join(dir, '..2026_11_30_00_00_00.000000001')
  mkdirSync(hidden, { recursive: true })
  symlinkSync('..2026_11_30_00_00_00.000000001', join(dir, '..data'))
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(hidden, name), text)
    symlinkSync(join('..data', name), join(dir, name))
  }
}

function writeDefinitions(): { twins: string; rules: string } {
  if (written) return written
  const twins = join(root, 'twins')
  const rules = join(root, 'rules')
  mkdirSync(twins)
  mkdirSync(rules)
  configMapLayout(join(root, 'configmap'), { 'plug.ts': `
import { setup } from 'xstate'
import { defineTwin } from 'twin-engine/define'
export default defineTwin({ type: 'plug', version: 1, events: { on: {} }, machine: setup({}).createMachine({ id: 'plug', initial: 'idle', states: { idle: {} } }) })
` })
  // A helper beside the definitions (skipped by the loader: leading _), imported relatively.
  writeFileSync(join(twins, '_levels.ts'), `export const MAX_LEVEL: number = 100\n`)
  writeFileSync(join(twins, 'lamp.ts'), `
import { assign, setup } from 'xstate'
import { defineTwin } from 'twin-engine/define'
import { MAX_LEVEL } from './_levels.ts'

export default defineTwin({
  type: 'lamp',
  version: 1,
  events: { level: { properties: { pct: { type: 'number', minimum: 0, maximum: MAX_LEVEL } }, required: ['pct'] } },
  machine: setup({
    types: {} as { context: { pct: number }; events: { type: 'level'; pct: number } },
  }).createMachine({
    id: 'lamp',
    context: { pct: 0 },
    initial: 'idle',
    states: { idle: { on: { level: { actions: assign({ pct: ({ event }) => event.pct }) } } } },
  }),
})
`)
  writeFileSync(join(rules, 'room-light.ts'), `
import { assign, setup } from 'xstate'
import { defineRule } from 'twin-engine/define'

export default defineRule({
  name: 'room-light',
  version: 1,
  inputs: [{ twin: 'lamp', changes: 'all', groupBy: (twin: { id: string }) => twin.id.split('-')[0]! }],
  machine: setup({
    types: {} as { context: { seen: number }; events: { type: 'lamp.changed' } },
  }).createMachine({
    id: 'room-light',
    context: { seen: 0 },
    on: { 'lamp.changed': { actions: assign({ seen: ({ context }) => context.seen + 1 }) } },
  }),
})
`)
  written = { twins, rules }
  return written
}

describe('definitions from outside the checkout', () => {
  it('loads definitions mounted as a Kubernetes ConfigMap (files behind ..data symlinks)', async () => {
    writeDefinitions()
    const engine = new EngineProcess({ TWINS_DIR: join(root, 'configmap'), RULES_DIR: join(root, 'none') })
    try {
      await engine.start()
      expect((await engine.get('/health')).types).toEqual(['plug'])
    } finally {
      await engine.destroy()
    }
  }, 60_000)

  it('loads TypeScript twins and rules from a folder under the system temp dir, with xstate and twin-engine/define from the engine', async () => {
    const { twins, rules } = writeDefinitions()
    const engine = new EngineProcess({ TWINS_DIR: twins, RULES_DIR: rules })
    try {
      await engine.start()
      const health = await engine.get('/health')
      expect(health.types).toEqual(['lamp'])
      const res = await fetch(`${engine.httpUrl}/twins/lamp/kitchen-1/events`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ event: 'level', payload: { pct: 40 } }),
      })
      expect(res.status).toBe(202)
      const lamp = await waitFor('the lamp twin', () => engine.get('/twins/lamp/kitchen-1'))
      expect(lamp.context).toEqual({ pct: 40 })
      const room = await waitFor('the rule actor fed by the lamp', async () => {
        const r = await engine.get('/twins/room-light/kitchen')
        return r?.context.seen >= 1 ? r : null
      })
      expect(room.context.seen).toBe(1)
    } finally {
      await engine.destroy()
    }
  }, 60_000)
})
