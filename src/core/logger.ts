/**
 * The structured logger the core writes to. Shaped like pino's (`log.info({ botId }, 'msg')`)
 * so the composition root can pass a pino logger as it is, without the core importing pino.
 */
export interface Logger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const ignore = (): void => undefined;

export const silentLogger: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
