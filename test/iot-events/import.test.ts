import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { stringify } from 'yaml'
import { afterAll, describe, expect, it } from 'vitest'
import { statechartOf } from '../../src/api/statechart.ts'
import { loadTwinRegistry } from '../../src/definitions/registry.ts'
import type { TwinDefinition } from '../../src/definitions/defineTwin.ts'
import { importIotEvents, type ImportedDefinition } from '../../src/iot-events/importer.ts'
import { ROOT } from '../support/env.ts'
import { thrown } from '../support/thrown.ts'
import { model, modelFiles, MODELS, removeDir, tempDir } from './support.ts'

const dirs: string[] = []
afterAll(() => dirs.forEach(removeDir))
const fresh = (label: string) => {
  const dir = tempDir(label)
  dirs.push(dir)
  return dir
}

/** Folders of models with distinct twin types (several models share a name: motorDetectorModel x3, ...). */
function rounds(files: string[]): Array<Array<{ file: string; def: ImportedDefinition }>> {
  const out: Array<Array<{ file: string; def: ImportedDefinition }>> = []
  for (const file of files) {
    const def = importIotEvents({ models: [file] }).definitions[0]!
    const round = out.find((r) => !r.some((e) => e.def.type === def.type))
    if (round) round.push({ file, def })
    else out.push([{ file, def }])
  }
  return out
}

describe('importing the AWS models', () => {
  it('finds the 19 published models in ../shared/iot-events/models (fails when the folder is missing)', () => {
    expect(modelFiles().map((f) => basename(f))).toHaveLength(19)
  })

  it('imports all 19, typechecks the generated definitions and loads them in the registry', async () => {
    const groups = rounds(modelFiles())
    const folders: string[] = []
    for (const group of groups) {
      const dir = fresh('all')
      importIotEvents({ models: group.map((g) => g.file), out: dir })
      folders.push(dir)
    }
    expect(groups.flat()).toHaveLength(19)
    // tsc over the generated files, resolving twin-engine/* through the package's own exports.
    const tsconfig = join(fresh('tsc'), 'tsconfig.json')
    writeFileSync(tsconfig, JSON.stringify({ extends: join(ROOT, 'tsconfig.json'), include: folders.map((f) => join(f, '*.ts')) }))
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', tsconfig], { cwd: ROOT, encoding: 'utf8' })
    expect(tsc.stdout + tsc.stderr).toBe('')
    expect(tsc.status).toBe(0)
    let types = 0
    for (const dir of folders) {
      const registry = await loadTwinRegistry(dir)
      types += registry.types.length
      for (const type of registry.types) expect(registry.get(type)!.version).toBe(1)
    }
    expect(types).toBe(19)
  }, 120_000)

  it('reads a CloudFormation model written in YAML with short tags as the JSON one', async () => {
    const json = readFileSync(model('cfn-full.json'), 'utf8')
    const yaml = stringify(JSON.parse(json)).replace(/Condition:\n\s+Fn::Join:\n\s+- \.\n\s+- - \$input\n\s+- Ref: myInput\n\s+- foo > 1\n/, 'Condition: !Join [".", ["$input", !Ref myInput, "foo > 1"]]\n')
    expect(yaml).toContain('!Join')
    const file = join(fresh('yaml'), 'cfn-full.yaml')
    writeFileSync(file, yaml)
    const fromYaml = importIotEvents({ models: [file] }).definitions[0]!
    const fromJson = importIotEvents({ models: [model('cfn-full.json')] }).definitions[0]!
    expect(fromYaml.model).toEqual(fromJson.model)
    expect(fromYaml.model.detectorModelDefinition.states[0]!.onInput!.events![0]!.condition).toBe('$input.myInput.foo > 1')
    expect(fromYaml.model.detectorModelDefinition.states[0]!.onInput!.transitionEvents![0]!.actions!.map((a) => Object.keys(a)[0])).toEqual(['sns', 'lambda', 'firehose', 'sqs', 'iotEvents'])
  })

  it('reads every shape: the Describe output and console export give the model their configuration holds', () => {
    const pump = importIotEvents({ models: [model('sample-iml-pump.json')] }).definitions[0]!
    expect(pump.model).toMatchObject({ detectorModelName: 'IoTImlDetectorModel', key: 'motorID', evaluationMethod: 'BATCH' })
    const exported = importIotEvents({ models: [model('motor-pressure-console-export.json')] }).definitions[0]!
    expect(exported.model).toMatchObject({ detectorModelName: 'motorDetectorModel', key: 'motorid' })
    const update = importIotEvents({ models: [model('cranes-crane-update.json')] }).definitions[0]!
    expect(update.model.key).toBeUndefined()
  })

  it('derives inputs from Input definitions, a sample message, or what the model reads', () => {
    const dir = fresh('inputs')
    const inputFile = join(dir, 'pressureInput.json')
    writeFileSync(inputFile, JSON.stringify({ inputName: 'PressureInput', inputDefinition: { attributes: [{ jsonPath: 'sensorData.pressure' }, { jsonPath: 'motorid' }] } }))
    const given = importIotEvents({ models: [model('motor-pressure-cli.json')], inputs: [inputFile] })
    expect(given.definitions[0]!.model.inputs).toEqual([{ inputName: 'PressureInput', attributes: ['sensorData.pressure', 'motorid'] }])
    expect(given.issues.filter((i) => i.check === 'derived-input')).toEqual([])
    const sampleFile = join(dir, 'shadow.json')
    writeFileSync(sampleFile, JSON.stringify({ current: { state: { reported: { sound: 10, temperature: 35, roomOccupancy: false, hvacStatus: 'HEATING' } }, version: 13 }, timestamp: 1606282489 }))
    const sampled = importIotEvents({ models: [model('workshop-edukit-thermostat.json')], samples: { thermostat: sampleFile } })
    expect(sampled.definitions[0]!.model.inputs[0]!.attributes).toContain('current.state.reported.roomOccupancy')
    const derived = importIotEvents({ models: [model('hvac-area.json')] })
    expect(derived.definitions[0]!.model.inputs.map((i) => i.inputName)).toEqual(['seedTemperatureInput', 'temperatureInput'])
    expect(derived.issues.filter((i) => i.check === 'derived-input')).toHaveLength(2)
  })

  it('prints the names it changed and maps state names XState cannot take', async () => {
    const dir = fresh('names')
    const file = join(dir, 'odd.json')
    const doc = JSON.parse(readFileSync(model('motor-pressure-cli.json'), 'utf8'))
    doc.detectorModelDefinition.states[1].stateName = 'Danger.Zone'
    doc.detectorModelDefinition.states[0].onInput.transitionEvents[0].nextState = 'Danger.Zone'
    writeFileSync(file, JSON.stringify(doc))
    const result = importIotEvents({ models: [file], out: dir })
    expect(result.definitions[0]!.mappings).toEqual(['model "motorDetectorModel" -> twin type motor-detector-model', 'state "Danger.Zone" -> Danger_Zone'])
    const { default: twin } = (await import(pathToFileURL(result.definitions[0]!.file).href)) as { default: TwinDefinition }
    const chart = statechartOf(twin.machine)
    expect(chart.states.map((s) => s.key)).toEqual(['Normal', 'Danger_Zone'])
    // The state keeps its IoT Events name as its label (GET /twin-types), and the twin's context shows it.
    expect(chart.states.map((s) => s.label)).toEqual([undefined, 'Danger.Zone'])
    expect(chart.transitions.filter((t) => t.guard)).toEqual([
      { source: 'Normal', event: '*', targets: ['Danger_Zone'], guard: 'Overpressurized', actions: ['pass'] },
      { source: 'Danger_Zone', event: '*', targets: ['Normal'], guard: 'BackToNormal', actions: ['pass'] },
    ])
  })

  it('declares each input as an input topic keyed by the model\'s key, and the actions the engine delivers', async () => {
    const dir = fresh('routes')
    const result = importIotEvents({ models: [model('cranes-motor.json')], topics: { PressureInput: 'plant/+/pressure' }, out: dir })
    const { default: twin } = (await import(pathToFileURL(result.definitions[0]!.file).href)) as { default: TwinDefinition }
    expect(twin.inputs.map((i) => [i.name, i.topic, i.event, i.keyPathText, i.as, i.label])).toEqual([
      ['PressureInput', 'plant/+/pressure', 'PressureInput', 'motorid', 'message', 'detector model motorDetectorModel, input PressureInput'],
      ['TemperatureInput', 'iotevents/inputs/TemperatureInput', 'TemperatureInput', 'motorid', 'message', 'detector model motorDetectorModel, input TemperatureInput'],
    ])
    expect(twin.outputs).toEqual({ iotTopicPublish: { publish: { topic: 'mqttTopic', payload: 'payload' } }, iotEvents: { input: { name: 'inputName', payload: 'payload' } } })
    // A model without a key: one twin, `detector`.
    const keyless = importIotEvents({ models: [model('blueprint-sensors-apps.json')], out: dir })
    const { default: one } = (await import(pathToFileURL(keyless.definitions[0]!.file).href)) as { default: TwinDefinition }
    expect(one.inputs.map((i) => [i.keyPath, i.id])).toEqual([[null, 'detector'], [null, 'detector']])
  })

  it('refuses a --topic the engine would refuse, before writing anything', () => {
    const dir = fresh('badtopic')
    for (const topic of ['devices/motor/x/PressureInput', 'plant/#/x', '$aws/x']) {
      const err = thrown(() => importIotEvents({ models: [model('cranes-motor.json')], topics: { PressureInput: topic }, out: dir }))
      expect(err.code).toBe('TWIN_ERR_IOT_MODEL')
      expect(err.message).toContain('--topic PressureInput=<topic>')
    }
    expect(readdirSync(dir)).toEqual([])
  })

  it('writes a new version when an updated model is re-imported, and the same one for the same model', () => {
    const dir = fresh('versions')
    expect(importIotEvents({ models: [model('cranes-crane.json')], out: dir }).definitions[0]).toMatchObject({ version: 1, changed: true })
    expect(importIotEvents({ models: [model('cranes-crane.json')], out: dir }).definitions[0]).toMatchObject({ version: 1, changed: false })
    const updated = importIotEvents({ models: [model('cranes-crane-update.json')], out: dir }).definitions[0]!
    expect(updated).toMatchObject({ version: 2, changed: true })
    expect(readFileSync(updated.file, 'utf8')).toContain('version: 2,')
  })
})

describe('refusing bad input', () => {
  const write = (doc: unknown, name = 'bad.json') => {
    const file = join(fresh('bad'), name)
    writeFileSync(file, typeof doc === 'string' ? doc : JSON.stringify(doc))
    return file
  }
  const motor = () => JSON.parse(readFileSync(model('motor-pressure-cli.json'), 'utf8'))

  it('names the file, the JSON path and the fix for an unknown state', () => {
    const doc = motor()
    doc.detectorModelDefinition.states[1].onInput.transitionEvents[0].nextState = 'Nomral'
    const file = write(doc)
    expect(() => importIotEvents({ models: [file] })).toThrow(expect.objectContaining({
      code: 'TWIN_ERR_IOT_MODEL',
      message: `${file}: $.detectorModelDefinition.states[1].onInput.transitionEvents[0].nextState: "Nomral" is not a state of the model; use one of Normal, Dangerous`,
    }))
  })

  it('names the character of an expression that uses a function IoT Events did not have', () => {
    const doc = motor()
    doc.detectorModelDefinition.states[0].onInput.transitionEvents[0].condition = '$input.PressureInput.sensorData.pressure > abs(70)'
    const file = write(doc)
    expect(() => importIotEvents({ models: [file] })).toThrow(expect.objectContaining({ code: 'TWIN_ERR_IOT_EXPRESSION', details: { file, path: '$.detectorModelDefinition.states[0].onInput.transitionEvents[0].condition', at: 43 } }))
    expect(() => importIotEvents({ models: [file] })).toThrow(/\(at character 44\): .*unknown function `abs`/)
  })

  it('refuses two actions in one element, with the CloudFormation path in PascalCase', () => {
    const doc = JSON.parse(readFileSync(model('cfn-full.json'), 'utf8'))
    doc.Resources.MyDetectorModel.Properties.DetectorModelDefinition.States[0].OnEnter.Events[0].Actions[0].ClearTimer = { TimerName: 'myTimer' }
    const file = write(doc)
    expect(() => importIotEvents({ models: [file] })).toThrow(expect.objectContaining({
      details: { file, path: '$.Resources.MyDetectorModel.Properties.DetectorModelDefinition.States[0].OnEnter.Events[0].Actions[0]' },
      message: expect.stringContaining('has 2 actions (setVariable, clearTimer); put exactly one action in each element'),
    }))
  })

  it('refuses what is not a model, and JSON that does not parse', () => {
    expect(() => importIotEvents({ models: [write({ hello: 'world' })] })).toThrow(/is not a detector model or an input/)
    expect(() => importIotEvents({ models: [write('{"detectorModelDefinition": ')] })).toThrow(/is not valid JSON/)
  })

  it('writes nothing to --out when one of the models is refused', () => {
    const out = fresh('atomic')
    const doc = motor()
    doc.detectorModelDefinition.states[0].onEnter.events[0].actions[0].setVariable.value = '$variable.x = 1'
    expect(() => importIotEvents({ models: [model('cranes-crane.json'), write(doc)], out })).toThrow(expect.objectContaining({ code: 'TWIN_ERR_IOT_EXPRESSION' }))
    expect(readdirSync(out)).toEqual([])
  })
})

describe('the analyzer (--check)', () => {
  it('finds the "true" vs true bug of the troubleshooting sample', () => {
    const { issues } = importIotEvents({ models: [model('sample-troubleshoot-hvac.json')] })
    const mix = issues.find((i) => i.check === 'type-mix')!
    expect(mix).toMatchObject({ severity: 'warning', path: '$.detectorModelDefinition.states[0].onInput.transitionEvents[0].condition', at: 1 })
    expect(mix.message).toContain('$variable.resetMe holds a string, compared here with a boolean: no coercion')
  })

  it('warns on unreachable states, timers under 60 s, resetTimer of a timer never set and input reads in timer passes', () => {
    const doc = JSON.parse(readFileSync(model('blueprint-device-heartbeat.json'), 'utf8'))
    const normal = doc.detectorModelDefinition.states[1]
    normal.onEnter.events[0].actions[0].setTimer.seconds = 30
    normal.onInput.events[0].actions.push({ resetTimer: { timerName: 'sleep' } })
    normal.onInput.events[0].condition = '$input.AWS_IoTEvents_Blueprints_Heartbeat_Input.value > 0'
    doc.detectorModelDefinition.states[0].onInput.transitionEvents = []
    doc.detectorModelDefinition.states.push({ stateName: 'Island', onInput: { transitionEvents: [] } })
    const file = join(fresh('check'), 'heartbeat.json')
    writeFileSync(file, JSON.stringify(doc))
    const checks = importIotEvents({ models: [file] }).issues.map((i) => `${i.check} ${i.path}`)
    expect(checks).toEqual(expect.arrayContaining([
      'unreachable-state $.detectorModelDefinition.states[2]',
      'timer-under-60s $.detectorModelDefinition.states[1].onEnter.events[0].actions[0].setTimer.seconds',
      'reset-of-unset-timer $.detectorModelDefinition.states[1].onInput.events[0].actions[1].resetTimer',
      'input-read-in-timer-pass $.detectorModelDefinition.states[1].onInput',
    ]))
  })

  it('warns on an iotTopicPublish the engine will not publish and an iotEvents feeding the model\'s own input', () => {
    const thermostat = importIotEvents({ models: [model('workshop-edukit-thermostat.json')] }).issues.filter((i) => i.check === 'publish-topic')
    expect(thermostat.map((i) => i.path)).toContain('$.detectorModelDefinition.states[0].onEnter.events[1].actions[0].iotTopicPublish.mqttTopic')
    expect(thermostat[0]!.message).toContain('"$aws/things/<<CLIENT_ID>>/shadow/update"')
    const doc = JSON.parse(readFileSync(model('motor-pressure-cli.json'), 'utf8'))
    doc.detectorModelDefinition.states[0].onInput.transitionEvents[0].actions.push({ iotEvents: { inputName: 'PressureInput' } })
    const file = join(fresh('loop'), 'loop.json')
    writeFileSync(file, JSON.stringify(doc))
    const loop = importIotEvents({ models: [file] }).issues.filter((i) => i.check === 'input-loop')
    expect(loop.map((i) => i.path)).toEqual([`$.detectorModelDefinition.states[0].onInput.transitionEvents[0].actions[${doc.detectorModelDefinition.states[0].onInput.transitionEvents[0].actions.length - 1}].iotEvents.inputName`])
  })

  it('runs as `twin import iot-events --check`: warnings printed, nothing written', () => {
    const out = fresh('cli')
    const run = spawnSync(process.execPath, [join(ROOT, 'bin/twin.js'), 'import', 'iot-events', model('sample-troubleshoot-hvac.json'), '--check', '--out', out], { cwd: ROOT, encoding: 'utf8' })
    expect(run.status).toBe(0)
    expect(run.stdout).toContain('checked areaDetectorModel: twin type area-detector-model version 1')
    expect(run.stdout).toMatch(/warning: .*sample-troubleshoot-hvac\.json: \$\.detectorModelDefinition\.states\[0\]\.onInput\.transitionEvents\[0\]\.condition \(at character 2\): \$variable\.resetMe holds a string/)
    expect(readdirSync(out)).toEqual([])
    const bad = spawnSync(process.execPath, [join(ROOT, 'bin/twin.js'), 'import', 'iot-events', join(MODELS, 'nope.json')], { cwd: ROOT, encoding: 'utf8' })
    expect(bad.status).toBe(1)
    expect(bad.stderr).toContain('twin: TWIN_ERR_IOT_MODEL')
  })
})

