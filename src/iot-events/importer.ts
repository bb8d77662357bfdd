import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { checkTopicInput, parseKeyPath } from '../definitions/topicInputs.ts'
import { TwinError } from '../errors.ts'
import { analyze, type PlacedExpr } from './analyze.ts'
import { ExpressionSyntaxError, parseExpression } from './expression/parse.ts'
import { defaultInputTopic, generateDefinition, generatedStamp, modelDigest, type InputRoute } from './generate.ts'
import { pascalSegment } from './model/cloudformation.ts'
import { inputFromSample, inputsFromUses, inputUses, type InputUse } from './model/inputs.ts'
import { ImportFailure, type Issue } from './model/issues.ts'
import { readFile, type ReadModel } from './model/read.ts'
import { parseSource } from './model/source.ts'
import { formatJsonPath, type DetectorModel, type InputDefinition } from './model/types.ts'
import { compileModel } from './runtime/compile.ts'
import { detectorNames, typeNameOf } from './runtime/names.ts'
import { inputTopics } from './runtime/routes.ts'

export interface ImportOptions {
  /** detector model files (JSON or YAML, any shape SEMANTICS.md §2 lists) */
  models: string[]
  /** Input definitions (CreateInput / DescribeInput JSON, CloudFormation) */
  inputs?: string[]
  /** input name -> a sample message file, for inputs known only by a sample */
  samples?: Record<string, string>
  /** input name -> MQTT topic (default iotevents/inputs/<input>) */
  topics?: Record<string, string>
  /** the twin type, instead of the one made from the model name (one model only) */
  type?: string
  /** re-create every detector when a new version of the definition runs (AWS's update behaviour) */
  resetOnUpdate?: boolean
  /** folder to write definitions to; absent: nothing is written */
  out?: string
}

export interface ImportedDefinition {
  type: string
  version: number
  /** the file written (or that would be written) */
  file: string
  model: DetectorModel
  source: string
  /** names changed for the engine, one per line */
  mappings: string[]
  /** false when --out already had this very definition */
  changed: boolean
}

export interface ImportResult {
  definitions: ImportedDefinition[]
  /** warnings of the reader and the analyzer */
  issues: Issue[]
}

/**
 * `twin import iot-events`: reads models and inputs, refuses what AWS refused
 * (TWIN_ERR_IOT_MODEL / TWIN_ERR_IOT_EXPRESSION naming file, JSON path and the
 * fix), analyzes, generates one definition per model and writes them all or
 * none: every file is written beside its target first and renamed into place
 * only when all are ready.
 */
export function importIotEvents(options: ImportOptions): ImportResult {
  if (options.models.length === 0) throw new TwinError('TWIN_ERR_IOT_MODEL', 'no model files given: twin import iot-events <model files...>')
  const issues: Issue[] = []
  const read: ReadModel[] = []
  const given = new Map<string, InputDefinition>()
  const addInput = (file: string, input: InputDefinition) => {
    const normal = { inputName: input.inputName, attributes: input.attributes.map((a) => formatJsonPath(parseKeyPath(a)!)) }
    if (given.has(input.inputName) && JSON.stringify(given.get(input.inputName)) !== JSON.stringify(normal)) {
      throw new ImportFailure(file, '$', `defines input ${input.inputName} differently from another file`, 'give each input one definition')
    }
    given.set(input.inputName, normal)
  }
  for (const file of [...options.models, ...(options.inputs ?? [])]) {
    const result = readFile(file, parseSource(file, readText(file)))
    issues.push(...result.warnings)
    read.push(...result.models)
    for (const input of result.inputs) addInput(file, input)
  }
  for (const [inputName, file] of Object.entries(options.samples ?? {})) {
    const sample = parseSource(file, readText(file))
    if (!sample || typeof sample !== 'object' || Array.isArray(sample)) throw new ImportFailure(file, '$', 'is not a JSON object', 'give a sample message of the input')
    addInput(file, inputFromSample(inputName, sample))
  }
  if (read.length === 0) throw new TwinError('TWIN_ERR_IOT_MODEL', `no detector model in ${options.models.join(', ')}: the files hold only inputs`)
  if (options.type !== undefined && read.length !== 1) throw new TwinError('TWIN_ERR_IOT_MODEL', `--type names one twin type, but ${read.length} models were given: import them one at a time`)

  const definitions: ImportedDefinition[] = []
  const types = new Map<string, string>()
  for (const r of read) {
    const def = importOne(r, given, options, issues)
    const other = types.get(def.type)
    if (other) throw new TwinError('TWIN_ERR_IOT_MODEL', `${r.file} and ${other} both make twin type "${def.type}": import them separately, or give one --type`)
    types.set(def.type, r.file)
    definitions.push(def)
  }
  if (options.out) writeAll(options.out, definitions)
  return { definitions, issues }
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    throw new TwinError('TWIN_ERR_IOT_MODEL', `${file}: cannot be read: ${(err as Error).message}`)
  }
}

function importOne(r: ReadModel, given: Map<string, InputDefinition>, options: ImportOptions, issues: Issue[]): ImportedDefinition {
  const locate = (segments: Array<string | number>) => ({ file: r.file, path: formatPath(r, segments) })
  if (r.unnamed) issues.push({ severity: 'warning', check: 'unnamed-model', ...locate([]), message: `the model has no detectorModelName; named "${r.model.detectorModelName}" after the file` })

  // Parse every expression where it is, collecting what it reads.
  const placed: PlacedExpr[] = []
  const uses: InputUse[] = []
  const named: string[] = []
  const parse = (text: string, segments: Array<string | number>) => {
    let expr
    try {
      expr = parseExpression(text)
    } catch (err) {
      if (!(err instanceof ExpressionSyntaxError)) throw err
      throw new ImportFailure(r.file, formatPath(r, segments), `${JSON.stringify(text)}: ${err.message}`, 'fix the expression (SEMANTICS.md §4 lists the language)', err.at, 'TWIN_ERR_IOT_EXPRESSION')
    }
    const found = inputUses(expr)
    uses.push(...found.reads)
    named.push(...found.named)
    placed.push({ expr, segments, ...placement(r.model, segments) })
    return expr
  }
  compileModel({ ...r.model, inputs: [] }, parse)
  if (uses.length === 0 && named.length === 0) {
    throw new ImportFailure(r.file, formatPath(r, ['detectorModelDefinition']), 'no expression reads an input', 'AWS refused such models: read at least one input in a condition ($input.<Input>.<attribute> or currentInput("<Input>"))')
  }
  const inputs = modelInputs(r, uses, named, given, issues)
  const model: DetectorModel = { ...r.model, inputs }
  const type = options.type ?? typeNameOf(model.detectorModelName)
  if (!/^[a-z][a-z0-9-]{0,63}$/.test(type)) throw new TwinError('TWIN_ERR_IOT_MODEL', `--type "${type}" must match [a-z][a-z0-9-]{0,63}`)
  issues.push(...analyze(model, placed, locate))

  const names = detectorNames(model)
  const mappings: string[] = []
  if (type !== model.detectorModelName) mappings.push(`model ${JSON.stringify(model.detectorModelName)} -> twin type ${type}`)
  for (const [state, key] of Object.entries(names.stateKeys)) if (state !== key) mappings.push(`state ${JSON.stringify(state)} -> ${key}`)
  for (const [input, event] of Object.entries(names.inputEvents)) if (input !== event) mappings.push(`input ${input} -> event ${event}`)
  const routes: InputRoute[] = inputs.map((i) => ({
    input: i.inputName,
    event: names.inputEvents[i.inputName]!,
    topic: options.topics?.[i.inputName] ?? defaultInputTopic(i.inputName),
    ...(model.key ? { keyPath: model.key } : {}),
  }))
  checkRoutes(model.detectorModelName, type, routes)
  const resetOnUpdate = options.resetOnUpdate ?? false
  const file = join(options.out ?? '.', `${type}.ts`)
  const writing = options.out !== undefined
  const version = nextVersion(file, modelDigest(model, { routes, resetOnUpdate }), writing)
  const source = generateDefinition(model, { type, version, sources: [basename(r.file)], routes, resetOnUpdate, mappings })
  // The same model keeps its version; the file is rewritten only when its text differs (a newer generator).
  const changed = !writing || !existsSync(file) || readFileSync(file, 'utf8') !== source
  return { type, version, file, model, source, mappings, changed }
}

/** The engine takes the routes as input topics (ADR 0021): a topic it would refuse is refused here, before anything is written. */
function checkRoutes(modelName: string, type: string, routes: readonly InputRoute[]): void {
  const events = Object.fromEntries(routes.map((r) => [r.event, {}]))
  for (const declaration of inputTopics(modelName, routes)) {
    checkTopicInput(type, events, declaration, (why) => {
      throw new TwinError('TWIN_ERR_IOT_MODEL', `model ${modelName}: ${why} (set it with --topic ${declaration.name}=<topic>)`)
    })
  }
}

/** The inputs of a model: given definitions first, else derived from what the model reads (with a warning). */
function modelInputs(r: ReadModel, uses: InputUse[], named: string[], given: Map<string, InputDefinition>, issues: Issue[]): InputDefinition[] {
  const derived = inputsFromUses(uses, named)
  return derived.map((d) => {
    const def = given.get(d.inputName)
    if (def) return def
    issues.push({
      severity: 'warning',
      check: 'derived-input',
      file: r.file,
      path: formatPath(r, []),
      message: `input ${d.inputName} has no definition (--inputs or --sample): its attributes are the ones the model reads (${d.attributes.join(', ') || 'none'})`,
    })
    return d
  })
}

/** onEnter/onInput/onExit and the role of an expression from its path in the model. */
function placement(model: ReadModel['model'], segments: Array<string | number>): Pick<PlacedExpr, 'group' | 'role' | 'variable'> {
  const group = segments[3] as PlacedExpr['group']
  const last = segments.at(-1)
  const role: PlacedExpr['role'] = last === 'condition' ? 'condition' : last === 'durationExpression' ? 'duration' : segments.at(-2) === 'setVariable' ? 'value' : 'field'
  if (role !== 'value') return { group, role }
  const state = model.detectorModelDefinition.states[segments[2] as number]!
  const list = segments[3] === 'onInput' ? state.onInput?.[segments[4] as 'events' | 'transitionEvents'] : state[segments[3] as 'onEnter' | 'onExit']?.events
  const action = list?.[segments[5] as number]?.actions?.[segments[7] as number] as { setVariable?: { variableName: string } } | undefined
  return { group, role, variable: action?.setVariable?.variableName }
}

/** A path of the normalised model in the file's own terms. */
function formatPath(r: ReadModel, segments: Array<string | number>): string {
  let out = r.base
  for (const s of segments) out += typeof s === 'number' ? `[${s}]` : `.${r.pascal ? pascalSegment(s) : s}`
  return out
}

/** Version 1 for a new type; the same version when --out has a definition of this very model; else one more. */
function nextVersion(file: string, digest: string, writing: boolean): number {
  if (!writing || !existsSync(file)) return 1
  const stamp = generatedStamp(readFileSync(file, 'utf8'))
  if (!stamp) throw new TwinError('TWIN_ERR_IOT_MODEL', `${file} exists and was not written by twin import iot-events: move it away or choose another --out`)
  return stamp.digest === digest ? stamp.version : stamp.version + 1
}

/** All files or none: written to temporary names beside their targets, then renamed. */
function writeAll(out: string, definitions: ImportedDefinition[]): void {
  mkdirSync(out, { recursive: true })
  const temps: Array<[string, string]> = []
  try {
    for (const d of definitions) {
      if (!d.changed) continue
      const temp = join(out, `.${basename(d.file)}.${process.pid}.tmp`)
      writeFileSync(temp, d.source)
      temps.push([temp, d.file])
    }
  } catch (err) {
    for (const [temp] of temps) rmSync(temp, { force: true })
    throw new TwinError('TWIN_ERR_IOT_MODEL', `cannot write to ${out}: ${(err as Error).message}; nothing was written`)
  }
  for (const [temp, file] of temps) renameSync(temp, file)
}
