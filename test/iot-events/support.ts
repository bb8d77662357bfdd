import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { TwinDefinition } from '../../src/definitions/defineTwin.ts'
import { importIotEvents, type ImportOptions } from '../../src/iot-events/importer.ts'
import { ROOT } from '../support/env.ts'

/**
 * The real AWS models live outside the project, at ../shared/iot-events/models
 * (CI has them there); they are read in place, never copied. A missing folder
 * fails the tests that need it.
 */
export const MODELS = join(ROOT, '../shared/iot-events/models')

export function modelFiles(): string[] {
  // readdirSync throws ENOENT when the folder is missing: the test fails, it does not skip.
  return readdirSync(MODELS)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => join(MODELS, f))
}

export const model = (name: string): string => join(MODELS, name)

/**
 * A fresh folder inside the repository for generated definitions: inside it,
 * `twin-engine/define` and `xstate` resolve as they do for twins/.
 */
export function tempDir(label: string): string {
  const base = join(ROOT, '.data', 'iot-events-tests')
  mkdirSync(base, { recursive: true })
  return mkdtempSync(join(base, `${label}-`))
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}

/** Imports one model into a fresh folder and loads the definition it wrote. */
export async function importTwin(options: Omit<ImportOptions, 'out'>): Promise<{ definition: TwinDefinition; dir: string; file: string }> {
  const dir = tempDir('twin')
  const result = importIotEvents({ ...options, out: dir })
  const file = result.definitions[0]!.file
  const mod = (await import(pathToFileURL(file).href)) as { default: TwinDefinition }
  return { definition: mod.default, dir, file }
}
