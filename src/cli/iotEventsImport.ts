import type { Command } from 'commander'
import { TwinError } from '../errors.ts'
import { importIotEvents, type ImportResult } from '../iot-events/importer.ts'
import { formatIssue } from '../iot-events/model/issues.ts'

/** `--sample Input=file.json` / `--topic Input=topic`, repeatable. */
function pairs(flag: string) {
  return (value: string, previous: Record<string, string> = {}): Record<string, string> => {
    const eq = value.indexOf('=')
    if (eq < 1 || eq === value.length - 1) throw new TwinError('TWIN_ERR_CONFIG', `${flag} expects <InputName>=<value>, got "${value}"`)
    return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) }
  }
}

/**
 * `twin import iot-events <models...>`: AWS IoT Events detector models to
 * twin definitions (docs/migrate-from-aws-iot-events.md).
 */
export function addImportCommand(program: Command): void {
  const importer = program.command('import').description('import definitions from other systems')
  importer
    .command('iot-events')
    .description('AWS IoT Events detector models (CreateDetectorModel JSON, DescribeDetectorModel / console export, CloudFormation JSON or YAML) to twin definitions')
    .argument('<models...>', 'detector model files')
    .option('--inputs <files...>', 'Input definitions (CreateInput JSON, DescribeInput output, CloudFormation)')
    .option('--sample <input=file>', 'a sample message of an input that has no definition (repeatable)', pairs('--sample'))
    .option('--topic <input=topic>', 'MQTT topic of an input (repeatable; default iotevents/inputs/<input>)', pairs('--topic'))
    .option('--out <dir>', 'write the definitions to this folder', 'twins')
    .option('--type <name>', 'twin type of the (single) model, instead of the one made from its name')
    .option('--reset-on-update', "re-create every detector when a new version runs, as AWS's UpdateDetectorModel did")
    .option('--check', 'analyze only: print warnings, write nothing')
    .action((models: string[], opts: { inputs?: string[]; sample?: Record<string, string>; topic?: Record<string, string>; out: string; type?: string; resetOnUpdate?: boolean; check?: boolean }) => {
      const result = importIotEvents({
        models,
        inputs: opts.inputs,
        samples: opts.sample,
        topics: opts.topic,
        type: opts.type,
        resetOnUpdate: opts.resetOnUpdate,
        out: opts.check ? undefined : opts.out,
      })
      process.stdout.write(report(result, opts.check ? null : opts.out))
    })
}

export function report(result: ImportResult, out: string | null): string {
  const lines: string[] = []
  for (const d of result.definitions) {
    const verb = out === null ? 'checked' : d.changed ? 'wrote' : 'unchanged'
    lines.push(`${verb} ${out === null ? d.model.detectorModelName : d.file}: twin type ${d.type} version ${d.version}`)
    for (const m of d.mappings) lines.push(`  ${m}`)
  }
  for (const issue of result.issues) lines.push(formatIssue(issue))
  const warnings = result.issues.length
  lines.push(warnings ? `${result.definitions.length} model(s) imported with ${warnings} warning(s)` : `${result.definitions.length} model(s) imported, no warnings`)
  return `${lines.join('\n')}\n`
}
