import { pino, type Logger } from 'pino'
import pretty from 'pino-pretty'

export type { Logger }

/**
 * Logs (pino): one JSON object a line for log collectors, or readable lines
 * (pino-pretty, written synchronously on this thread) for a person at a
 * terminal; `auto` picks pretty when the output is a TTY (LOG_FORMAT). On
 * stdout, or on another file descriptor (admin commands keep stdout for
 * their report).
 */
export function createLogger(level: string, name = 'twin-engine', format: 'auto' | 'json' | 'pretty' = 'auto', fd = 1): Logger {
  const tty = (fd === 1 ? process.stdout : process.stderr).isTTY === true
  const readable = format === 'pretty' || (format === 'auto' && tty)
  if (!readable) return fd === 1 ? pino({ name, level }) : pino({ name, level }, pino.destination(fd))
  return pino({ name, level }, pretty({ colorize: tty, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', destination: fd }))
}
