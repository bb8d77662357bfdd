import type { Config } from '../config.ts'
import { TwinError } from '../errors.ts'
import { readTlsFiles, type TlsMaterial } from './tlsFiles.ts'

/** The TLS material of every link, read from the files the settings name, at startup (docs/deploy.md). */
export interface TlsSettings {
  /** rediss:// (REDIS_CA_FILE, REDIS_CERT_FILE, REDIS_KEY_FILE) */
  redis?: TlsMaterial
  /** the engine's MQTT clients on mqtts:// (MQTT_CA_FILE, MQTT_CERT_FILE, MQTT_KEY_FILE) */
  mqtt?: TlsMaterial
  /** the embedded broker's TLS listener (MQTT_TLS_*) */
  broker?: { port: number; cert: Buffer; key: Buffer; ca?: Buffer; clientCerts: 'off' | 'optional' | 'required' }
  /** HTTPS for the API (HTTP_TLS_CERT_FILE, HTTP_TLS_KEY_FILE) */
  https?: { cert: Buffer; key: Buffer }
}

/** Throws TWIN_ERR_CONFIG naming the setting when a file cannot be read or a pair is incomplete. */
export function tlsSettings(config: Config): TlsSettings {
  const out: TlsSettings = {
    redis: readTlsFiles({ ca: ['REDIS_CA_FILE', config.redisCaFile], cert: ['REDIS_CERT_FILE', config.redisCertFile], key: ['REDIS_KEY_FILE', config.redisKeyFile] }),
    mqtt: readTlsFiles({ ca: ['MQTT_CA_FILE', config.mqttCaFile], cert: ['MQTT_CERT_FILE', config.mqttCertFile], key: ['MQTT_KEY_FILE', config.mqttKeyFile] }),
  }
  const https = readTlsFiles({ cert: ['HTTP_TLS_CERT_FILE', config.httpTlsCertFile], key: ['HTTP_TLS_KEY_FILE', config.httpTlsKeyFile] })
  if (https) {
    if (!https.cert) throw new TwinError('TWIN_ERR_CONFIG', 'HTTP_TLS_CERT_FILE and HTTP_TLS_KEY_FILE go together: set both or neither')
    out.https = { cert: https.cert, key: https.key! }
  }
  if (config.mqttTlsPort !== undefined) {
    const files = readTlsFiles({ ca: ['MQTT_TLS_CA_FILE', config.mqttTlsCaFile], cert: ['MQTT_TLS_CERT_FILE', config.mqttTlsCertFile], key: ['MQTT_TLS_KEY_FILE', config.mqttTlsKeyFile] })
    if (!files?.cert) throw new TwinError('TWIN_ERR_CONFIG', 'MQTT_TLS_PORT needs MQTT_TLS_CERT_FILE and MQTT_TLS_KEY_FILE')
    if (config.mqttTlsClientCerts !== 'off' && !files.ca) {
      throw new TwinError('TWIN_ERR_CONFIG', `MQTT_TLS_CLIENT_CERTS=${config.mqttTlsClientCerts} needs MQTT_TLS_CA_FILE: the CA device certificates chain to`)
    }
    out.broker = { port: config.mqttTlsPort, cert: files.cert, key: files.key!, ca: files.ca, clientCerts: config.mqttTlsClientCerts }
  }
  return out
}
