import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { afterAll, describe, expect, it } from 'vitest'
import { startManagedRedis, type ManagedRedis } from '../../src/embedded/redisServer.ts'
import { buildImage, docker, ensureBaseImage, ensureDocker } from '../support/docker.ts'
import { freePort, ROOT, waitFor } from '../support/env.ts'
import { startMosquitto, type Mosquitto } from '../support/mosquitto.ts'

/**
 * The image in CI (issue 15): built from the real Dockerfile, then compose.yaml's
 * topology with plain `docker run --network host` (no bridge, no Compose here):
 * Redis, mosquitto, a front container (ingest + api) and two workers. Devices
 * publish over MQTT, twins are read over HTTP, one worker container is
 * killed, and every event the broker acknowledged is applied exactly once.
 * Definitions come from a folder mounted into the containers.
 */
const run = `smoke${Math.random().toString(36).slice(2, 7)}`
const containers: string[] = []
let redis: ManagedRedis | undefined
let broker: Mosquitto | undefined
const dir = mkdtempSync(join(tmpdir(), 'twin-smoke-'))
afterAll(async () => {
  if (containers.length) await docker('rm', '-f', ...containers).catch(() => undefined)
  await broker?.stop()
  await redis?.stop()
  rmSync(dir, { recursive: true, force: true })
})

/** The counter test twin, importing the public entry as a mounted definition would. */
function writeDefinitions(): string {
  const defs = join(dir, 'definitions')
  mkdirSync(join(defs, 'twins'), { recursive: true })
  const source = readFileSync(join(ROOT, 'test/fixtures/twins/counter.ts'), 'utf8')
    .replace(/import \{ sendCommand \} from .*\n/, '')
    .replace(/import \{ defineTwin \} from .*\n/, "import { defineTwin, sendCommand } from 'twin-engine/define'\n")
  writeFileSync(join(defs, 'twins', 'counter.ts'), source)
  // The containers run as uid 10001.
  for (const p of [dir, defs, join(defs, 'twins')]) chmodSync(p, 0o755)
  chmodSync(join(defs, 'twins', 'counter.ts'), 0o644)
  return defs
}

async function container(name: string, image: string, env: Record<string, string>, definitions: string): Promise<string> {
  const full = `${run}-${name}`
  const args = ['run', '-d', '--network', 'host', '--name', full, '-v', `${definitions}:/definitions:ro`]
  for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`)
  await docker(...args, image, 'start')
  containers.push(full)
  return full
}

async function httpStatus(url: string): Promise<number> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) }).catch(() => null)
  await res?.arrayBuffer()
  return res?.status ?? 0
}

describe('the image', () => {
  it('runs the Compose topology with docker run --network host; a worker container killed; every acknowledged event applied exactly once', async () => {
    await ensureDocker()
    await ensureBaseImage()
    const builtAt = Date.now()
    const image = await buildImage()
    const buildMs = Date.now() - builtAt
    const size = Number(await docker('image', 'inspect', '--format', '{{.Size}}', image))
    expect(image).toMatch(/^twin-engine:\d+\.\d+\.\d+-[0-9a-f]{12}(-dirty)?$/)
    expect(await docker('image', 'inspect', '--format', '{{index .Config.Labels "org.opencontainers.image.revision"}}', image)).toBe(image.split(':')[1]!.split('-').slice(1).join('-'))

    redis = await startManagedRedis({ dataDir: join(dir, 'redis') })
    broker = await startMosquitto()
    const definitions = writeDefinitions()
    const [frontPort, w1Port, w2Port] = [await freePort(), await freePort(), await freePort()]
    const common = {
      REDIS_URL: redis.url, MQTT_URL: broker.url, SHARDS: '16', LEASE_TTL_MS: '2000', LOG_LEVEL: 'warn',
      TWINS_DIR: '/definitions/twins', RULES_DIR: '/definitions/rules', HTTP_HOST: '127.0.0.1',
    }
    const startedAt = Date.now()
    const front = await container('front', image, { ...common, TWIN_ROLES: 'ingest,api', HTTP_PORT: String(frontPort), AUTH: 'open', MQTT_CLIENT_ID: `${run}-ingest` }, definitions)
    const api = `http://127.0.0.1:${frontPort}`
    await waitFor('front ready', async () => (await httpStatus(`${api}/ready`)) === 200, 60_000)
    const frontReadyMs = Date.now() - startedAt
    const worker1 = await container('worker1', image, { ...common, TWIN_ROLES: 'worker', HTTP_PORT: String(w1Port) }, definitions)
    const worker2 = await container('worker2', image, { ...common, TWIN_ROLES: 'worker', HTTP_PORT: String(w2Port) }, definitions)
    for (const port of [w1Port, w2Port]) await waitFor(`worker on ${port} ready`, async () => (await httpStatus(`http://127.0.0.1:${port}/ready`)) === 200, 60_000)

    await waitFor('the Docker HEALTHCHECK says healthy', async () => (await docker('inspect', '--format', '{{.State.Health.Status}}', front)) === 'healthy', 60_000)
    // The console, built in the build stage, is served; its build tools were pruned with the dev dependencies.
    const consolePage = await fetch(`${api}/ui/`)
    expect(consolePage.status).toBe(200)
    const html = await consolePage.text()
    const script = /<script type="module" crossorigin src="\.\/(assets\/[^"]+\.js)"/.exec(html)?.[1]
    expect(script).toBeDefined()
    expect((await fetch(`${api}/ui/${script}`)).headers.get('content-type')).toContain('javascript')
    expect(await docker('exec', front, 'sh', '-c', 'ls -d /app/node_modules/vite /app/node_modules/preact /app/node_modules/elkjs 2>/dev/null | wc -l')).toBe('0')
    // Non-root, tini as PID 1 (signals reach Node).
    expect(await docker('exec', front, 'id', '-u')).toBe('10001')
    expect(await docker('exec', front, 'cat', '/proc/1/comm')).toBe('tini')

    const dev = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0, clientId: `${run}-devices` })
    const ids = Array.from({ length: 10 }, (_, i) => `s${i}`)
    const acked = new Map(ids.map((id) => [id, 0]))
    let stop = false
    const loops = ids.map(async (id) => {
      for (let seq = 1; !stop; seq++) {
        await dev.publishAsync(`devices/counter/${id}/inc`, JSON.stringify({ seq }), { qos: 1 })
        acked.set(id, seq)
        // The broker acknowledges at once: pace the devices (about 1000 events/s in all) so the engine keeps up.
        await new Promise((r) => setTimeout(r, 10))
      }
    })
    const total = () => [...acked.values()].reduce((a, b) => a + b, 0)
    await waitFor('traffic flowing', () => total() >= 300, 30_000)
    await waitFor('twins visible over HTTP', async () => (await (await fetch(`${api}/twins?type=counter&limit=100`)).json()).twins?.length === 10)

    // One worker dies hard; the other takes its shards after LEASE_TTL_MS.
    await docker('kill', worker1)
    const killedAt = total()
    await waitFor('traffic applied after the kill', async () => {
      const c = await (await fetch(`${api}/cluster`)).json()
      return c.workers.length === 1 && c.shards.every((s: { owner: string | null }) => s.owner === c.workers[0].id) && total() > killedAt + 300
    }, 60_000)
    stop = true
    await Promise.all(loops)
    await dev.endAsync()

    for (const [id, n] of acked) {
      const twin = await waitFor(`${id} applied up to ${n}`, async () => {
        const t = await (await fetch(`${api}/twins/counter/${id}`)).json()
        return t.context?.lastSeq >= n ? t : null
      }, 30_000)
      expect(twin.context).toMatchObject({ count: n, lastSeq: n, gaps: 0, dupes: 0 })
    }
    // An install without the console's build and without Vite says how to build it, and serves the API as ever.
    const bare = await freePort()
    const noConsole = `${run}-no-console`
    await docker('run', '-d', '--network', 'host', '--name', noConsole, '--user', '0', '--entrypoint', 'sh',
      '-e', `REDIS_URL=${redis.url}`, '-e', 'TWIN_ROLES=api', '-e', `HTTP_PORT=${bare}`, '-e', 'HTTP_HOST=127.0.0.1', '-e', 'AUTH=open', '-e', 'SHARDS=16',
      '-e', 'TWINS_DIR=/definitions/twins', '-e', 'RULES_DIR=/definitions/rules', '-v', `${definitions}:/definitions:ro`,
      image, '-c', 'rm -rf /app/dist/console && exec node /app/bin/twin.js start')
    containers.push(noConsole)
    await waitFor('the engine without a console up', async () => (await httpStatus(`http://127.0.0.1:${bare}/health`)) === 200, 60_000)
    const missing = await fetch(`http://127.0.0.1:${bare}/ui/`)
    expect(missing.status).toBe(404)
    expect((await missing.json()).error).toMatchObject({ code: 'TWIN_ERR_NOT_FOUND', message: expect.stringContaining('npm run build:console') })
    expect(await docker('logs', noConsole)).toContain('the console is not built, and this install cannot build it')
    expect((await fetch(`http://127.0.0.1:${bare}/twins?type=counter&limit=1`)).status).toBe(200)

    // SIGTERM through tini: the worker hands its shards over and exits 0.
    await docker('stop', '-t', '20', worker2)
    expect(await docker('inspect', '--format', '{{.State.ExitCode}}', worker2)).toBe('0')
    console.log(`image ${image}: ${(size / 1e6).toFixed(0)} MB, built in ${(buildMs / 1000).toFixed(0)} s; front container start to ready ${frontReadyMs} ms; ${total()} events`)
  }, 600_000)
})
