import { existsSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { RuleDefinition } from './defineRule.ts'
import type { TwinDefinition } from './defineTwin.ts'
import { allowDefinitionsFrom } from './externalDefinitions.ts'
import { TwinError } from '../errors.ts'

/**
 * Loads one twin or rule definition file given on its own (`twin replay
 * --definition`), from anywhere, as TWINS_DIR files load. Whatever keeps it
 * from being a definition — a missing file, one that does not compile, one
 * that throws as it loads (defineTwin refusing it), a default export that is
 * not a definition — is refused with TWIN_ERR_REPLAY_DEFINITION naming the
 * file and why.
 */
export async function loadCandidateFile(file: string): Promise<TwinDefinition | RuleDefinition> {
  const path = resolve(file)
  const refuse = (why: string) => new TwinError('TWIN_ERR_REPLAY_DEFINITION', `${path}: ${why}`, { file: path })
  if (!existsSync(path)) throw refuse('no such file')
  allowDefinitionsFrom(dirname(path))
  let mod: { default?: unknown }
  try {
    mod = (await import(pathToFileURL(path).href)) as { default?: unknown }
  } catch (err) {
    const e = err as Error & { code?: string }
    const why = e instanceof TwinError ? `is not a valid definition: ${e.message}` : `does not compile or load: ${firstLines(e.message)}`
    throw refuse(why)
  }
  const d = mod.default as Partial<TwinDefinition & RuleDefinition> | undefined
  if (d && (d as RuleDefinition).kind === 'rule' && typeof d.name === 'string') return d as RuleDefinition
  if (d && typeof d.type === 'string' && d.validators) return d as TwinDefinition
  throw refuse('must `export default defineTwin({...})` or `defineRule({...})`')
}

/** The first lines of a compiler's message (its code frame can be long). */
function firstLines(text: string, lines = 6): string {
  return text.split('\n').slice(0, lines).join('\n').trim()
}
