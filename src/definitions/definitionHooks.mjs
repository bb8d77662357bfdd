// @ts-check
/**
 * Node module hooks (module.register) for twin and rule definitions kept
 * outside the engine's checkout: a mounted ConfigMap, a volume, a repository
 * of definitions (TWINS_DIR / RULES_DIR anywhere). Registered by
 * externalDefinitions.ts before the first such file is imported, after tsx's
 * hooks, so these run first and tsx still compiles the TypeScript.
 *
 * Plain JavaScript: hooks run on Node's loader thread, which must be able to
 * load this file whatever else is registered there.
 *
 * For an importer outside the engine's root (data.engineRoot):
 * - `xstate`, `xstate/…`, `twin-engine` and `twin-engine/…` resolve as if
 *   imported from the engine itself: the engine's own xstate (one copy, so
 *   machines and the engine agree) and its public entries (package.json
 *   "exports": ./define, ./testing, ./client, …). Without this, a folder with
 *   no node_modules fails with ERR_MODULE_NOT_FOUND.
 * - A `.ts` file is an ES module. Without a package.json of type module
 *   beside it, tsx would load it as CommonJS, and its imports of the engine's
 *   ES modules fail with ERR_REQUIRE_CYCLE_MODULE. Definitions are ES modules
 *   (`export default defineTwin(…)`); CommonJS TypeScript can use `.cts`.
 * Anything else resolves as usual, from the importer's own folder.
 */

/** @type {string} */
let engineRoot = ''
/** @type {string} */
let engineParent = ''

/** @param {{ engineRoot: string }} data file URL of the engine's root folder, ending in / */
export function initialize(data) {
  engineRoot = data.engineRoot
  engineParent = new URL('package.json', engineRoot).href
}

const PINNED = /^(xstate|twin-engine)(\/|$)/

/** @param {string | undefined} url */
function isOutside(url) {
  return !!url && url.startsWith('file:') && !url.startsWith(engineRoot)
}

/**
 * @param {string} specifier
 * @param {{ parentURL?: string, conditions: string[], importAttributes?: object }} context
 * @param {(specifier: string, context?: object) => Promise<{ url: string, format?: string | null }>} nextResolve
 */
export async function resolve(specifier, context, nextResolve) {
  const pinned = isOutside(context.parentURL) && PINNED.test(specifier)
  const resolved = await nextResolve(specifier, pinned ? { ...context, parentURL: engineParent } : context)
  if (isOutside(resolved.url) && resolved.url.endsWith('.ts') && resolved.format !== 'module') {
    return { ...resolved, format: 'module' }
  }
  return resolved
}
