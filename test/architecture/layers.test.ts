import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { cruise, type ICruiseResult, type IForbiddenRuleType } from 'dependency-cruiser'
import ts from 'typescript'
import { beforeAll, describe, expect, it } from 'vitest'
import { ROOT } from '../support/env.ts'

/**
 * The layer order of docs/architecture.md, lowest first: a module may import
 * its own layer and the layers below it, never one above. Each entry is a
 * path pattern (from the repository root) of the files in that layer.
 */
export const LAYERS: ReadonlyArray<{ name: string; path: string }> = [
  { name: 'base', path: '^src/(errors|clock|secrets)\\.ts$' },
  { name: 'client', path: '^src/client/' },
  { name: 'model', path: '^src/model/' },
  { name: 'config', path: '^src/config\\.ts$' },
  { name: 'net', path: '^src/net/' },
  { name: 'definitions', path: '^src/definitions/' },
  { name: 'iot-events', path: '^src/iot-events/' },
  { name: 'core', path: '^src/core/' },
  { name: 'testing', path: '^src/testing/' },
  { name: 'public', path: '^src/public/' },
  { name: 'store', path: '^src/store/' },
  { name: 'cluster', path: '^src/cluster/' },
  { name: 'embedded', path: '^src/embedded/' },
  { name: 'ingest', path: '^src/ingest/' },
  { name: 'feed', path: '^src/feed/' },
  { name: 'worker', path: '^src/worker/' },
  { name: 'effects', path: '^src/effects/' },
  { name: 'consumer', path: '^src/consumer/' },
  { name: 'jobs', path: '^src/jobs/' },
  { name: 'observability', path: '^src/observability/' },
  { name: 'console', path: '^src/console/' },
  { name: 'api', path: '^src/api/' },
  { name: 'roles', path: '^src/roles/' },
  { name: 'demo', path: '^src/demo/' },
  { name: 'cli', path: '^src/cli/' },
]

/** One forbidden rule per layer: nothing in it imports a layer above it. */
function layerRules(): IForbiddenRuleType[] {
  return LAYERS.slice(0, -1).map((layer, i) => ({
    name: `${layer.name}-imports-upward`,
    severity: 'error',
    from: { path: layer.path },
    to: { path: LAYERS.slice(i + 1).map((l) => l.path) },
  }))
}

/** Twin and rule definitions see only the public entries (and each other, and xstate). */
const PUBLIC_ONLY: IForbiddenRuleType = {
  name: 'definitions-import-public-entries-only',
  severity: 'error',
  from: { path: '^(twins|rules)/' },
  to: { pathNot: ['^(twins|rules)/', '^node_modules/xstate/', '^twin-engine/(define|testing|iot-events)$'], dependencyTypesNot: ['core'] },
}

const NO_CIRCLES: IForbiddenRuleType = { name: 'no-circular', severity: 'error', from: { pathNot: '^node_modules/' }, to: { circular: true } }

async function check(baseDir: string, dirs: string[]): Promise<ICruiseResult> {
  const reported = await cruise(
    dirs,
    { tsPreCompilationDeps: true, validate: true, doNotFollow: { path: 'node_modules' }, baseDir, ruleSet: { forbidden: [...layerRules(), PUBLIC_ONLY, NO_CIRCLES] } },
    undefined,
    { tsConfig: { fileName: join(ROOT, 'tsconfig.json') } },
  )
  return reported.output as ICruiseResult
}

function violations(r: ICruiseResult): string[] {
  return r.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`)
}

let result: ICruiseResult

beforeAll(async () => {
  result = await check(ROOT, ['src', 'twins', 'rules'])
}, 60_000)

describe('the layer order (docs/architecture.md)', () => {
  it('every source file is in a layer', () => {
    const placed = (path: string) => LAYERS.some((l) => new RegExp(l.path).test(path))
    const unplaced = result.modules.map((m) => m.source).filter((s) => s.startsWith('src/') && /\.ts$/.test(s) && !placed(s))
    expect(unplaced).toEqual([])
  })

  it('docs/architecture.md lists these layers in this order', () => {
    const doc = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8')
    const table = doc.slice(doc.indexOf('| layer | folder |'))
    const rows = [...table.matchAll(/^\| ([a-z-]+) \| `/gm)].map((m) => m[1])
    expect(rows).toEqual(LAYERS.map((l) => l.name))
  })

  it('no import runs upward, no import circle, definitions import public entries only', () => {
    expect(violations(result)).toEqual([])
  })

  it('refuses an upward import and a circle (test/fixtures/upward)', async () => {
    const probe = await check(join(ROOT, 'test/fixtures/upward'), ['src'])
    expect(violations(probe).sort()).toEqual([
      'model-imports-upward: src/model/names.ts -> src/core/step.ts',
      'no-circular: src/core/step.ts -> src/model/names.ts',
    ])
  })
})

/** Folders on the path of an event: ingest -> worker -> commit -> relay -> feed -> WebSocket. */
const EVENT_PATH = ['src/ingest', 'src/core', 'src/worker', 'src/store', 'src/feed', 'src/api/ws']
/** Longest function allowed on that path (STYLE.md: past ~80 lines a function holds two ideas). */
const MAX_FUNCTION_LINES = 80

describe('small functions on the event path', () => {
  it(`no function over ${MAX_FUNCTION_LINES} lines in ${EVENT_PATH.join(', ')}`, () => {
    const files = result.modules.map((m) => m.source).filter((s) => s.endsWith('.ts') && EVENT_PATH.some((d) => s.startsWith(`${d}/`)))
    expect(files.length).toBeGreaterThan(20)
    const long: string[] = []
    for (const file of files) {
      const text = readFileSync(join(ROOT, file), 'utf8')
      const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
      const visit = (node: ts.Node) => {
        if (ts.isFunctionLike(node) && 'body' in node && node.body) {
          const start = source.getLineAndCharacterOfPosition(node.getStart()).line
          const end = source.getLineAndCharacterOfPosition(node.getEnd()).line
          if (end - start + 1 > MAX_FUNCTION_LINES) long.push(`${file}:${start + 1} (${end - start + 1} lines)`)
        }
        ts.forEachChild(node, visit)
      }
      visit(source)
    }
    expect(long).toEqual([])
  })
})
