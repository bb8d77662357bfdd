import { pino, type Logger } from 'pino'

export type { Logger }

/** Structured JSON logs (pino), on stdout, or on another file descriptor (admin commands keep stdout for their report). */
export function createLogger(level: string, name = 'twin-engine', fd = 1): Logger {
  return fd === 1 ? pino({ name, level }) : pino({ name, level }, pino.destination(fd))
}
