import { describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config.ts'

describe('loadConfig', () => {
  it('uses the defaults: embedded broker, managed redis, all roles', () => {
    const c = loadConfig({})
    expect(c).toMatchObject({ roles: ['ingest', 'worker', 'api'], mqttUrl: undefined, redisUrl: undefined, mqttPort: 1883, httpPort: 8080, shards: 64, demo: true })
    expect(c.dataDir).toMatch(/\/\.data$/)
  })

  it('reads the environment, and flags win over it', () => {
    const c = loadConfig({ HTTP_PORT: '9000', DEMO: 'false', TWIN_ROLES: 'worker, api', REDIS_URL: 'redis://r:6379' }, { httpPort: 9100 })
    expect(c).toMatchObject({ httpPort: 9100, demo: false, roles: ['worker', 'api'], redisUrl: 'redis://r:6379' })
  })

  it.each([
    ['HTTP_PORT', 'abc', 'expected an integer from 0 to 65535'],
    ['SHARDS', '0', 'expected an integer from 1 to 16384'],
    ['DEMO', 'maybe', 'expected true or false'],
    ['TWIN_ROLES', 'worker,cook', 'expected a comma-separated list of ingest, worker, api'],
    ['MQTT_PROTOCOL', '3', 'expected 4 or 5'],
  ])('refuses %s=%s with TWIN_ERR_CONFIG naming the variable', (name, value, why) => {
    expect(() => loadConfig({ [name]: value })).toThrow(expect.objectContaining({ code: 'TWIN_ERR_CONFIG', message: `${name}=${JSON.stringify(value)} is invalid: ${why}` }))
  })
})
