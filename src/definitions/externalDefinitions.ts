import { register } from 'node:module'
import { relative, isAbsolute } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

/** The engine's root folder (the one with its package.json). */
const ENGINE_ROOT = fileURLToPath(new URL('../../', import.meta.url))

let registered = false

/**
 * Makes definitions in `dir` loadable when it lies outside the engine's root
 * (definitionHooks.mjs says how). Registered once per process, and only when
 * needed, so loading the shipped twins/ and rules/ goes through Node and tsx
 * unchanged. Must run before the first file of `dir` is imported.
 */
export function allowDefinitionsFrom(dir: string): void {
  if (registered || isInside(ENGINE_ROOT, dir)) return
  register('./definitionHooks.mjs', import.meta.url, { data: { engineRoot: pathToFileURL(ENGINE_ROOT).href } })
  registered = true
}

function isInside(root: string, dir: string): boolean {
  const rel = relative(root, dir)
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))
}
