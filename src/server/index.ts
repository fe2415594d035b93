export { startServer, PACKAGE_BODY_LIMIT_BYTES, type RunningServer, type ServerRole, type StartServerOptions } from './start.js';
export { createLogger, type ServerLogger } from './logger.js';
export { stderrAnnounce, silentAnnounce, type Announce } from './announce.js';
