import { pino, type Logger } from 'pino'
import pretty from 'pino-pretty'

export type { Logger }

/**
 * Logs on stdout (pino): one JSON object a line for log collectors, or
 * readable lines (pino-pretty, written synchronously on this thread) for a
 * person at a terminal. `auto` picks pretty when stdout is a TTY (LOG_FORMAT).
 */
export function createLogger(level: string, name = 'twin-engine', format: 'auto' | 'json' | 'pretty' = 'auto'): Logger {
  const readable = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true)
  if (!readable) return pino({ name, level })
  return pino({ name, level }, pretty({ colorize: process.stdout.isTTY === true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }))
}
