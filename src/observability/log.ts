import { pino, type Logger } from 'pino'

export type { Logger }

/** Structured JSON logs on stdout (pino). */
export function createLogger(level: string, name = 'twin-engine'): Logger {
  return pino({ name, level })
}
