import { resolve } from 'node:path'
import { TwinError } from './errors.ts'

/**
 * Every setting in one place: environment variable, CLI flag, default and
 * documentation side by side. `twin start --help` and the README's settings
 * table are generated from / checked against this list (test/config.test.ts).
 */
export const roles = ['ingest', 'worker', 'api'] as const
export type Role = (typeof roles)[number]

/** A value that does not parse; loadConfig adds the variable's name. */
const invalid = (why: string) => new TwinError('TWIN_ERR_CONFIG', why)

interface Setting<T> {
  env: string
  flag: string
  doc: string
  default: T
  parse(raw: string): T
}

const int = (min: number, max: number) => (raw: string): number => {
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min || value > max) throw invalid(`expected an integer from ${min} to ${max}`)
  return value
}
const str = (raw: string): string => raw
const bool = (raw: string): boolean => {
  if (/^(1|true|yes|on)$/i.test(raw)) return true
  if (/^(0|false|no|off)$/i.test(raw)) return false
  throw invalid('expected true or false')
}
const optional = (raw: string): string | undefined => (raw === '' ? undefined : raw)
const roleList = (raw: string): Role[] => {
  const list = raw.split(',').map((r) => r.trim()).filter(Boolean)
  const bad = list.filter((r) => !(roles as readonly string[]).includes(r))
  if (bad.length || list.length === 0) throw invalid(`expected a comma-separated list of ${roles.join(', ')}`)
  return list as Role[]
}

export const settings = {
  roles: { env: 'TWIN_ROLES', flag: '--role <roles>', doc: 'Roles this process runs: any of ingest,worker,api (comma-separated)', default: [...roles] as Role[], parse: roleList },
  mqttUrl: { env: 'MQTT_URL', flag: '--mqtt-url <url>', doc: 'External MQTT broker (e.g. mqtt://broker:1883). Unset: run the embedded broker', default: undefined as string | undefined, parse: optional },
  mqttPort: { env: 'MQTT_PORT', flag: '--mqtt-port <port>', doc: 'Port of the embedded MQTT broker', default: 1883, parse: int(0, 65535) },
  mqttHost: { env: 'MQTT_HOST', flag: '--mqtt-host <host>', doc: 'Bind address of the embedded MQTT broker (0.0.0.0 lets devices on the network connect)', default: '127.0.0.1', parse: str },
  mqttProtocol: { env: 'MQTT_PROTOCOL', flag: '--mqtt-protocol <version>', doc: 'MQTT version spoken to an external broker: 4 (3.1.1) or 5', default: 5 as 4 | 5, parse: (raw: string): 4 | 5 => {
    if (raw !== '4' && raw !== '5') throw invalid('expected 4 or 5')
    return Number(raw) as 4 | 5
  } },
  mqttClientId: { env: 'MQTT_CLIENT_ID', flag: '--mqtt-client-id <id>', doc: 'Client id of the ingest subscriber on an external broker (persistent session)', default: 'twin-engine-ingest', parse: str },
  ingestPartition: { env: 'INGEST_PARTITION', flag: '--ingest-partition <k/n>', doc: 'With several ingest processes on an external broker: this one takes the devices of partition k of n (0-based), keeping each device on one process', default: { index: 0, count: 1 }, parse: (raw: string) => {
    const m = /^(\d+)\/(\d+)$/.exec(raw)
    const index = Number(m?.[1])
    const count = Number(m?.[2])
    if (!m || count < 1 || index >= count) throw invalid('expected k/n with 0 <= k < n, e.g. 0/2')
    return { index, count }
  } },
  mqttSharedGroup: { env: 'MQTT_SHARED_GROUP', flag: '--mqtt-shared-group <name>', doc: 'Subscribe through the shared subscription $share/<name>/… (only on brokers that route one device to one subscriber)', default: undefined as string | undefined, parse: optional },
  redisUrl: { env: 'REDIS_URL', flag: '--redis-url <url>', doc: 'Redis to use (redis://host:port/db). Unset: start a managed local redis-server', default: undefined as string | undefined, parse: optional },
  redisCluster: { env: 'REDIS_CLUSTER', flag: '--redis-cluster', doc: 'REDIS_URL is a Redis Cluster: a comma-separated list of seed nodes', default: false, parse: bool },
  keyPrefix: { env: 'KEY_PREFIX', flag: '--key-prefix <prefix>', doc: 'Prefix of every Redis key, so several engines can share one Redis', default: '', parse: (raw: string) => {
    // Braces would replace the {tw:N} hash tag and put every shard in one cluster slot.
    if (/[{}\s]/.test(raw)) throw invalid('a key prefix cannot contain braces or spaces')
    return raw
  } },
  dataDir: { env: 'DATA_DIR', flag: '--data-dir <dir>', doc: 'Where the managed redis-server keeps its data (AOF)', default: '.data', parse: str },
  autoInstallRedis: { env: 'AUTO_INSTALL_REDIS', flag: '--no-auto-install-redis', doc: 'When redis-server is missing on Debian/Ubuntu and we are root, install it with apt-get', default: true, parse: bool },
  httpPort: { env: 'HTTP_PORT', flag: '--http-port <port>', doc: 'HTTP and WebSocket port', default: 8080, parse: int(0, 65535) },
  httpHost: { env: 'HTTP_HOST', flag: '--http-host <host>', doc: 'HTTP and WebSocket bind address', default: '127.0.0.1', parse: str },
  twinsDir: { env: 'TWINS_DIR', flag: '--twins <dir>', doc: 'Folder of twin definitions', default: 'twins', parse: str },
  rulesDir: { env: 'RULES_DIR', flag: '--rules <dir>', doc: 'Folder of rule definitions; a missing folder means no rules', default: 'rules', parse: str },
  historyLength: { env: 'HISTORY_LENGTH', flag: '--history-length <n>', doc: 'Transitions kept in each twin record (state changes, emitted events, commands); 0 keeps none', default: 10, parse: int(0, 1000) },
  demo: { env: 'DEMO', flag: '--no-demo', doc: 'Run the demo fleet simulator (embedded broker only)', default: true, parse: bool },
  demoDevices: { env: 'DEMO_DEVICES', flag: '--demo-devices <n>', doc: 'Devices per twin type in the demo fleet', default: 20, parse: int(1, 100_000) },
  demoIntervalMs: { env: 'DEMO_INTERVAL_MS', flag: '--demo-interval-ms <ms>', doc: 'Mean time between two events of one demo device', default: 2000, parse: int(10, 3_600_000) },
  shards: { env: 'SHARDS', flag: '--shards <n>', doc: 'Virtual shards; fixed when the Redis data set is first created', default: 64, parse: int(1, 16384) },
  maxPayloadBytes: { env: 'MAX_PAYLOAD_BYTES', flag: '--max-payload-bytes <n>', doc: 'Largest accepted device payload; larger ones are dead-lettered', default: 65536, parse: int(1, 16 * 1024 * 1024) },
  batchSize: { env: 'BATCH_SIZE', flag: '--batch-size <n>', doc: 'Most inbox entries a worker reads per shard per step', default: 1000, parse: int(1, 100_000) },
  batchLingerMs: { env: 'BATCH_LINGER_MS', flag: '--batch-linger-ms <ms>', doc: 'Group commit at low load: how long a worker step waits for more input when a read brought little (under 64 entries) before it commits; 0 never waits', default: 2, parse: int(0, 100) },
  cacheSize: { env: 'TWIN_CACHE_SIZE', flag: '--twin-cache-size <n>', doc: 'Twins kept in memory per worker before the least recently used are passivated', default: 100_000, parse: int(1, 100_000_000) },
  leaseTtlMs: { env: 'LEASE_TTL_MS', flag: '--lease-ttl-ms <ms>', doc: 'Shard lease time to live; a dead worker loses its shards after this', default: 10_000, parse: int(500, 600_000) },
  outboxMaxLen: { env: 'OUTBOX_MAXLEN', flag: '--outbox-maxlen <n>', doc: 'Relayed outbox entries kept per shard for other consumers (approximate); entries not yet relayed are never trimmed', default: 100_000, parse: int(100, 100_000_000) },
  deadLetterMaxLen: { env: 'DEAD_LETTER_MAXLEN', flag: '--dead-letter-maxlen <n>', doc: 'Dead letters kept per shard (approximate); counts are kept forever', default: 10_000, parse: int(10, 10_000_000) },
  webhooksFile: { env: 'WEBHOOKS_FILE', flag: '--webhooks-file <path>', doc: 'JSON file of webhooks: derived events POSTed to URLs by BullMQ jobs with retries (docs/effects.md). Unset: no webhooks', default: undefined as string | undefined, parse: optional },
  webhookConcurrency: { env: 'WEBHOOK_CONCURRENCY', flag: '--webhook-concurrency <n>', doc: 'Webhook deliveries in flight at once per worker process', default: 16, parse: int(1, 1000) },
  auth: { env: 'AUTH', flag: '--auth <mode>', doc: 'HTTP/WebSocket access: tokens (API_TOKENS / API_TOKENS_FILE required) or open (local development only)', default: 'tokens' as 'tokens' | 'open', parse: (raw: string): 'tokens' | 'open' => {
    if (raw !== 'tokens' && raw !== 'open') throw invalid('expected tokens or open')
    return raw
  } },
  // Parsed by src/api/auth.ts, whose errors never echo a token back.
  apiTokens: { env: 'API_TOKENS', flag: '--api-tokens <list>', doc: 'API tokens: comma-separated token:scope+scope entries (scopes read, write, admin; admin implies write implies read)', default: undefined as string | undefined, parse: optional },
  apiTokensFile: { env: 'API_TOKENS_FILE', flag: '--api-tokens-file <file>', doc: 'JSON file of API tokens: [{ "token" or "sha256", "scopes": ["read"], "name" }]', default: undefined as string | undefined, parse: optional },
  rateLimitMax: { env: 'RATE_LIMIT_MAX', flag: '--rate-limit-max <n>', doc: 'HTTP requests one token (or one address without a token) may make per window; 0 turns the limit off', default: 1200, parse: int(0, 100_000_000) },
  rateLimitWindowMs: { env: 'RATE_LIMIT_WINDOW_MS', flag: '--rate-limit-window-ms <ms>', doc: 'Window of RATE_LIMIT_MAX', default: 60_000, parse: int(100, 86_400_000) },
  deviceCredentialsFile: { env: 'DEVICE_CREDENTIALS_FILE', flag: '--device-credentials-file <file>', doc: 'Embedded broker: JSON file of device credentials; when set, devices must log in with client id {type}/{id} and may use only their own topics (docs/http.md)', default: undefined as string | undefined, parse: optional },
  mqttUsername: { env: 'MQTT_USERNAME', flag: '--mqtt-username <name>', doc: 'User name the engine\'s own MQTT clients present (external broker, or the embedded broker of another process)', default: 'twin-engine', parse: str },
  mqttPassword: { env: 'MQTT_PASSWORD', flag: '--mqtt-password <secret>', doc: 'Password of MQTT_USERNAME. Unset: the embedded broker makes a random one for its own process', default: undefined as string | undefined, parse: optional },
  wsHighWaterBytes: { env: 'WS_HIGH_WATER_BYTES', flag: '--ws-high-water-bytes <n>', doc: 'WebSocket: unsent bytes above which a socket\'s changes are conflated (latest state per twin); flushed below a quarter of it', default: 1024 * 1024, parse: int(1024, 1024 * 1024 * 1024) },
  wsMaxBufferedBytes: { env: 'WS_MAX_BUFFERED_BYTES', flag: '--ws-max-buffered-bytes <n>', doc: 'WebSocket: unsent bytes at which a socket is closed at once (code 4008)', default: 16 * 1024 * 1024, parse: int(1024, 1024 * 1024 * 1024) },
  wsSlowCloseMs: { env: 'WS_SLOW_CLOSE_MS', flag: '--ws-slow-close-ms <ms>', doc: 'WebSocket: a socket still conflating after this long is closed (code 4008)', default: 30_000, parse: int(100, 3_600_000) },
  wsMaxHeld: { env: 'WS_MAX_HELD', flag: '--ws-max-held <n>', doc: 'WebSocket: (subscription, twin) changes a conflating socket may hold (latest each, ~150 bytes per entry); one more closes it (code 4008)', default: 100_000, parse: int(1, 100_000_000) },
  wsHeartbeatMs: { env: 'WS_HEARTBEAT_MS', flag: '--ws-heartbeat-ms <ms>', doc: 'WebSocket: ping frame and heartbeat message interval; a client silent for 2 intervals is dropped', default: 15_000, parse: int(100, 3_600_000) },
  wsRateLimit: { env: 'WS_RATE_LIMIT', flag: '--ws-rate-limit <n>', doc: 'WebSocket: client messages per second per socket; more are refused with TWIN_ERR_RATE_LIMITED', default: 50, parse: int(1, 1_000_000) },
  wsRateBurst: { env: 'WS_RATE_BURST', flag: '--ws-rate-burst <n>', doc: 'WebSocket: client messages a socket may send in one burst', default: 100, parse: int(1, 1_000_000) },
  wsFloodCloseMs: { env: 'WS_FLOOD_CLOSE_MS', flag: '--ws-flood-close-ms <ms>', doc: 'WebSocket: a client sending 10x over its rate limit for this long is closed (code 4029)', default: 5000, parse: int(100, 3_600_000) },
  wsResumeRevs: { env: 'WS_RESUME_REVS', flag: '--ws-resume-revs <n>', doc: 'WebSocket resume buffer: recent changes kept per twin, replayed to a client that reconnects', default: 32, parse: int(0, 10_000) },
  wsResumeTwins: { env: 'WS_RESUME_TWINS', flag: '--ws-resume-twins <n>', doc: 'WebSocket resume buffer: twins kept (least recently changed evicted); older misses get a gap notice', default: 100_000, parse: int(0, 100_000_000) },
  wsResumeBytes: { env: 'WS_RESUME_BYTES', flag: '--ws-resume-bytes <n>', doc: 'WebSocket resume buffer: bytes kept in all (JSON of each kept change + 64 per change), the bound that counts; least recently changed twins evicted first', default: 64 * 1024 * 1024, parse: int(0, 64 * 1024 * 1024 * 1024) },
  inboxMaxLength: { env: 'INBOX_MAX_LENGTH', flag: '--inbox-max-length <n>', doc: 'Entries a shard inbox may hold before ingest holds PUBACKs for its devices (backpressure) instead of filling Redis; 0: no bound', default: 100_000, parse: int(0, 1_000_000_000) },
  retainInputMs: { env: 'RETAIN_INPUT_MS', flag: '--retain-input-ms <ms>', doc: 'What-if replay (twin replay): how long each shard keeps the input it applied, with base snapshots of its twins to start from (ADR 0012); 0 keeps none', default: 0, parse: int(0, 90 * 86_400_000) },
  retainMaxBytes: { env: 'RETAIN_MAX_BYTES', flag: '--retain-max-bytes <n>', doc: 'What-if replay: Redis memory the retained input and snapshots of all shards may take together (split evenly across shards); the oldest go first', default: 1024 * 1024 * 1024, parse: int(1024 * 1024, Number.MAX_SAFE_INTEGER) },
  retainSnapshotMs: { env: 'RETAIN_SNAPSHOT_MS', flag: '--retain-snapshot-ms <ms>', doc: 'What-if replay: interval between base snapshots of a shard\'s twins; a replay starts from the newest one before its window', default: 6 * 3_600_000, parse: int(1000, 30 * 86_400_000) },
  mqttTlsPort: { env: 'MQTT_TLS_PORT', flag: '--mqtt-tls-port <port>', doc: 'Embedded broker: also listen with TLS (MQTTS) on this port; needs MQTT_TLS_CERT_FILE and MQTT_TLS_KEY_FILE. Unset: no TLS listener', default: undefined as number | undefined, parse: int(0, 65535) },
  mqttTlsCertFile: { env: 'MQTT_TLS_CERT_FILE', flag: '--mqtt-tls-cert-file <file>', doc: 'Embedded broker TLS: server certificate (PEM, chain included)', default: undefined as string | undefined, parse: optional },
  mqttTlsKeyFile: { env: 'MQTT_TLS_KEY_FILE', flag: '--mqtt-tls-key-file <file>', doc: 'Embedded broker TLS: private key of the server certificate (PEM)', default: undefined as string | undefined, parse: optional },
  mqttTlsCaFile: { env: 'MQTT_TLS_CA_FILE', flag: '--mqtt-tls-ca-file <file>', doc: 'Embedded broker TLS: CA certificates (PEM) that device certificates must chain to', default: undefined as string | undefined, parse: optional },
  mqttTlsClientCerts: { env: 'MQTT_TLS_CLIENT_CERTS', flag: '--mqtt-tls-client-certs <mode>', doc: 'Embedded broker TLS: device certificates off, optional (a device may log in with one instead of a password) or required (mutual TLS: no certificate, no connection). A certificate names its device {type}/{id} in its CN or a URI SAN twin:{type}/{id}', default: 'off' as 'off' | 'optional' | 'required', parse: (raw: string): 'off' | 'optional' | 'required' => {
    if (raw !== 'off' && raw !== 'optional' && raw !== 'required') throw invalid('expected off, optional or required')
    return raw
  } },
  mqttCaFile: { env: 'MQTT_CA_FILE', flag: '--mqtt-ca-file <file>', doc: 'The engine\'s MQTT clients on mqtts://: CA certificates (PEM) to trust for the broker. Unset: the system\'s', default: undefined as string | undefined, parse: optional },
  mqttCertFile: { env: 'MQTT_CERT_FILE', flag: '--mqtt-cert-file <file>', doc: 'The engine\'s MQTT clients on mqtts://: client certificate (PEM) for brokers that require one', default: undefined as string | undefined, parse: optional },
  mqttKeyFile: { env: 'MQTT_KEY_FILE', flag: '--mqtt-key-file <file>', doc: 'Private key (PEM) of MQTT_CERT_FILE', default: undefined as string | undefined, parse: optional },
  redisCaFile: { env: 'REDIS_CA_FILE', flag: '--redis-ca-file <file>', doc: 'rediss:// URLs: CA certificates (PEM) to trust for Redis. Unset: the system\'s', default: undefined as string | undefined, parse: optional },
  redisCertFile: { env: 'REDIS_CERT_FILE', flag: '--redis-cert-file <file>', doc: 'rediss:// URLs: client certificate (PEM) for a Redis with tls-auth-clients', default: undefined as string | undefined, parse: optional },
  redisKeyFile: { env: 'REDIS_KEY_FILE', flag: '--redis-key-file <file>', doc: 'Private key (PEM) of REDIS_CERT_FILE', default: undefined as string | undefined, parse: optional },
  httpTlsCertFile: { env: 'HTTP_TLS_CERT_FILE', flag: '--http-tls-cert-file <file>', doc: 'Serve HTTPS and WSS with this certificate (PEM, chain included); needs HTTP_TLS_KEY_FILE. Unset: plain HTTP (TLS at an ingress)', default: undefined as string | undefined, parse: optional },
  httpTlsKeyFile: { env: 'HTTP_TLS_KEY_FILE', flag: '--http-tls-key-file <file>', doc: 'Private key (PEM) of HTTP_TLS_CERT_FILE', default: undefined as string | undefined, parse: optional },
  logFormat: { env: 'LOG_FORMAT', flag: '--log-format <format>', doc: 'json (one JSON object a line, for log collectors), pretty (readable lines) or auto (pretty when stdout is a terminal, else json)', default: 'auto' as 'auto' | 'json' | 'pretty', parse: (raw: string): 'auto' | 'json' | 'pretty' => {
    if (raw !== 'auto' && raw !== 'json' && raw !== 'pretty') throw invalid('expected auto, json or pretty')
    return raw
  } },
  logLevel: { env: 'LOG_LEVEL', flag: '--log-level <level>', doc: 'fatal, error, warn, info, debug or trace', default: 'info', parse: str },
} satisfies Record<string, Setting<unknown>>

type Settings = typeof settings
export type Config = { -readonly [K in keyof Settings]: Settings[K]['default'] }

/**
 * Builds the config from defaults, then the environment, then CLI flags
 * (`overrides`, already parsed by commander). Throws TWIN_ERR_CONFIG naming
 * the variable and what it expects.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const config = {} as Record<string, unknown>
  for (const [key, setting] of Object.entries(settings) as Array<[keyof Config, Setting<unknown>]>) {
    const raw = env[setting.env]
    if (key in overrides && overrides[key] !== undefined) {
      config[key] = overrides[key]
    } else if (raw !== undefined) {
      try {
        config[key] = setting.parse(raw)
      } catch (err) {
        throw new TwinError('TWIN_ERR_CONFIG', `${setting.env}=${JSON.stringify(raw)} is invalid: ${(err as Error).message}`)
      }
    } else {
      config[key] = setting.default
    }
  }
  const out = config as Config
  out.dataDir = resolve(out.dataDir)
  out.twinsDir = resolve(out.twinsDir)
  out.rulesDir = resolve(out.rulesDir)
  return out
}
