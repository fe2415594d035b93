/** The services' logger: pino, JSON lines, level from the `logLevel` setting (BERTH_LOG_LEVEL). */
import { pino, type Logger as PinoLogger } from 'pino';
import type { LogLevel } from '../config/settings.js';

export type ServerLogger = PinoLogger;

/** JSON lines to stdout, or to a file (`berth demo` keeps the terminal for people). */
export function createLogger(level: LogLevel, file?: string): ServerLogger {
  const destination = file ? pino.destination({ dest: file, mkdir: true, sync: false }) : pino.destination({ fd: 1, sync: false });
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

/** Writes what is buffered; call before exiting. */
export function flushLogger(logger: ServerLogger): void {
  try {
    logger.flush();
  } catch {
    // Nothing to flush into once the destination is closed.
  }
}
