import { ImportFailure, type Issue } from './issues.ts'

/**
 * CloudFormation `AWS::IoTEvents::DetectorModel` / `AWS::IoTEvents::Input`
 * resources: intrinsics resolved against the template, PascalCase keys turned
 * into the API's camelCase (`Sns` -> `sns`, `IotTopicPublish` ->
 * `iotTopicPublish`, `DynamoDBv2` -> `dynamoDBv2`: lower-casing the first
 * letter covers every irregular action name).
 */

export interface CfnResource {
  logicalId: string
  type: 'AWS::IoTEvents::DetectorModel' | 'AWS::IoTEvents::Input'
  properties: Record<string, unknown>
  /** JSON path of the resource's Properties in the file */
  base: string
}

type Template = { Resources?: Record<string, { Type?: unknown; Properties?: unknown }>; Parameters?: Record<string, { Default?: unknown }> }

export function cloudFormationResources(file: string, doc: Record<string, unknown>, warnings: Issue[]): CfnResource[] {
  const template: Template = 'Resources' in doc ? (doc as Template) : { Resources: { Resource: doc as { Type?: unknown; Properties?: unknown } } }
  const out: CfnResource[] = []
  for (const [logicalId, resource] of Object.entries(template.Resources ?? {})) {
    if (resource?.Type !== 'AWS::IoTEvents::DetectorModel' && resource?.Type !== 'AWS::IoTEvents::Input') continue
    const base = 'Resources' in doc ? `$.Resources.${logicalId}.Properties` : '$.Properties'
    if (!resource.Properties || typeof resource.Properties !== 'object') {
      throw new ImportFailure(file, base, 'has no Properties object', 'give the resource its Properties')
    }
    // RoleArn and Tags do not matter to a twin: leave their intrinsics (often Fn::GetAtt of a role) unresolved.
    const { RoleArn: _role, Tags: _tags, ...props } = resource.Properties as Record<string, unknown>
    const resolver = new Resolver(file, template, warnings)
    const resolved = resolver.resolve(props, base) as Record<string, unknown>
    out.push({ logicalId, type: resource.Type, properties: camelize(resolved) as Record<string, unknown>, base })
  }
  return out
}

const PSEUDO = new Set(['AWS::Region', 'AWS::AccountId', 'AWS::StackName', 'AWS::Partition', 'AWS::URLSuffix', 'AWS::StackId', 'AWS::NotificationARNs', 'AWS::NoValue'])

class Resolver {
  constructor(
    private readonly file: string,
    private readonly template: Template,
    private readonly warnings: Issue[],
  ) {}

  resolve(value: unknown, path: string): unknown {
    if (Array.isArray(value)) return value.map((v, i) => this.resolve(v, `${path}[${i}]`))
    if (!value || typeof value !== 'object') return value
    const entries = Object.entries(value)
    if (entries.length === 1) {
      const [name, arg] = entries[0]!
      if (name === 'Ref') return this.ref(String(arg), path)
      if (name === 'Fn::Join') return this.join(arg, path)
      if (name === 'Fn::Sub') return this.sub(arg, path)
      if (name === 'Fn::GetAtt') return this.getAtt(arg, path)
      if (name.startsWith('Fn::')) {
        throw new ImportFailure(this.file, path, `uses ${name}, which the importer does not evaluate`, 'replace it by its value, or deploy the stack and import the DescribeDetectorModel output')
      }
    }
    const out: Record<string, unknown> = {}
    for (const [k, v] of entries) out[k] = this.resolve(v, `${path}.${k}`)
    return out
  }

  private warn(path: string, message: string): void {
    this.warnings.push({ severity: 'warning', check: 'cloudformation', file: this.file, path, message })
  }

  /** Ref to an input resource is its InputName; CloudFormation generates one when it has none, which the importer cannot know. */
  private ref(name: string, path: string): string {
    if (PSEUDO.has(name)) {
      this.warn(path, `Ref ${name} is known only when the stack is deployed; kept as the text \${${name}}`)
      return `\${${name}}`
    }
    const resource = this.template.Resources?.[name]
    if (resource?.Type === 'AWS::IoTEvents::Input') {
      const inputName = (resource.Properties as Record<string, unknown> | undefined)?.InputName
      if (typeof inputName === 'string') return inputName
      this.warn(path, `input resource ${name} has no InputName (CloudFormation would generate one); used "${name}"`)
      return name
    }
    const parameter = this.template.Parameters?.[name]
    if (parameter) {
      if (typeof parameter.Default === 'string' || typeof parameter.Default === 'number') return String(parameter.Default)
      this.warn(path, `Ref to parameter ${name}, which has no Default; used "${name}"`)
      return name
    }
    if (resource) {
      this.warn(path, `Ref to ${String(resource.Type)} ${name}; used its logical id "${name}"`)
      return name
    }
    this.warn(path, `Ref to "${name}", which is not in this template; used "${name}" as the name`)
    return name
  }

  private join(arg: unknown, path: string): string {
    if (!Array.isArray(arg) || arg.length !== 2 || typeof arg[0] !== 'string' || !Array.isArray(arg[1])) {
      throw new ImportFailure(this.file, path, 'Fn::Join must be [separator, [values]]', 'fix the Fn::Join')
    }
    const parts = (arg[1] as unknown[]).map((v, i) => this.resolve(v, `${path}.Fn::Join[1][${i}]`))
    if (parts.some((p) => typeof p !== 'string' && typeof p !== 'number')) throw new ImportFailure(this.file, path, 'Fn::Join joins values that are not strings', 'fix the Fn::Join')
    return parts.join(arg[0])
  }

  private sub(arg: unknown, path: string): string {
    const [text, vars] = Array.isArray(arg) ? [arg[0], (arg[1] ?? {}) as Record<string, unknown>] : [arg, {}]
    if (typeof text !== 'string') throw new ImportFailure(this.file, path, 'Fn::Sub needs a string', 'fix the Fn::Sub')
    // `${!Literal}` is CloudFormation's escape for a literal `${Literal}`: IoT Events substitution templates use it.
    return text.replace(/\$\{(!?)([^}]+)\}/g, (whole, bang: string, name: string) => {
      if (bang) return `\${${name}}`
      if (name in vars) return String(this.resolve(vars[name], `${path}.Fn::Sub[1].${name}`))
      const [head] = name.split('.')
      if (name.includes('.') && this.template.Resources?.[head!]) return this.getAtt(name.split('.'), path)
      if (!this.template.Resources?.[name] && !this.template.Parameters?.[name] && !PSEUDO.has(name)) {
        // Not a CloudFormation name: an IoT Events template left as written.
        return whole
      }
      return this.ref(name, path)
    })
  }

  private getAtt(arg: unknown, path: string): string {
    const [resource, attribute] = Array.isArray(arg) ? arg : String(arg).split('.')
    this.warn(path, `Fn::GetAtt ${String(resource)}.${String(attribute)} is known only when the stack is deployed; kept as the text ${String(resource)}.${String(attribute)}`)
    return `${String(resource)}.${String(attribute)}`
  }
}

/** PascalCase keys to camelCase, values untouched. */
export function camelize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelize)
  if (!value || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k.charAt(0).toLowerCase() + k.slice(1)] = camelize(v)
  return out
}

/** camelCase path segments back to the PascalCase the template uses, for error paths. */
export const pascalSegment = (segment: string): string => segment.charAt(0).toUpperCase() + segment.slice(1)
