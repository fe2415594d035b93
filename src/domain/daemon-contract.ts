/**
 * The contract between the services (which create containers) and the in-container
 * daemon (src/daemon). The services describe a bot to the daemon only through these
 * environment variables; the daemon removes every `BERTH_DAEMON_*` and `BERTH_SECRET_*`
 * variable before it starts the bot, so settings and credentials never reach bot code.
 */
export const DAEMON_ENV = {
  botId: 'BERTH_DAEMON_BOT_ID',
  kind: 'BERTH_DAEMON_KIND',
  runId: 'BERTH_DAEMON_RUN_ID',
  runtime: 'BERTH_DAEMON_RUNTIME',
  entrypoint: 'BERTH_DAEMON_ENTRYPOINT',
  flavor: 'BERTH_DAEMON_FLAVOR',
  codeKey: 'BERTH_DAEMON_CODE_KEY',
  codeSha256: 'BERTH_DAEMON_CODE_SHA256',
  codeFormat: 'BERTH_DAEMON_CODE_FORMAT',
  /** Object store URL as seen from inside: `file:/var/berth/objects` or `s3://…`. */
  objects: 'BERTH_DAEMON_OBJECTS',
  graceSeconds: 'BERTH_DAEMON_GRACE_SECONDS',
  debounceMs: 'BERTH_DAEMON_DEBOUNCE_MS',
  maxWaitMs: 'BERTH_DAEMON_MAX_WAIT_MS',
  logIntervalMs: 'BERTH_DAEMON_LOG_INTERVAL_MS',
  botDir: 'BERTH_DAEMON_BOT_DIR',
  stateDir: 'BERTH_DAEMON_STATE_DIR',
  workDir: 'BERTH_DAEMON_WORK_DIR',
  /** `uid:gid` the bot runs as; empty means "as the daemon's own user" (process runtime, non-root). */
  runAs: 'BERTH_DAEMON_RUN_AS',
  python: 'BERTH_DAEMON_PYTHON',
  node: 'BERTH_DAEMON_NODE',
  /**
   * Path of berth-daemon.cjs for bootstrap.sh; unset in the image (CONTAINER_PATHS.daemon).
   * The process runtime sets it to the host's dist/daemon copy.
   */
  script: 'BERTH_DAEMON_SCRIPT',
  /**
   * Epoch milliseconds before which the bot must not start (scheduled runs started ahead of
   * their slot, so that Docker's start and init are done when the slot comes). Unset: at once.
   */
  startAt: 'BERTH_DAEMON_START_AT',
  /** Caps for safe extraction. */
  maxExtractBytes: 'BERTH_DAEMON_MAX_EXTRACT_BYTES',
  maxExtractFiles: 'BERTH_DAEMON_MAX_EXTRACT_FILES',
} as const;

/**
 * The bot's own variables (its spec's `env`) travel in the container's environment under
 * this prefix, and the daemon hands them to the bot under their own names. The container's
 * environment is also the daemon's, which runs as root with the object store's credentials:
 * a bot's NODE_OPTIONS=--require=/bot/x.js, LD_PRELOAD or OPENSSL_CONF under its own name
 * would configure the daemon's Node and loader too (code of the bot's run as root, or the
 * daemon dead before its first log line).
 */
export const BOT_ENV_PREFIX = 'BERTH_BOT_ENV_';

/** Prefixes stripped from the bot's environment. */
export const DAEMON_PRIVATE_ENV_PREFIXES = ['BERTH_DAEMON_', 'BERTH_SECRET_'] as const;

/** Paths inside the bot image. */
export const CONTAINER_PATHS = {
  botDir: '/bot',
  stateDir: '/state',
  workDir: '/var/berth',
  objectsDir: '/var/berth/objects',
  daemon: '/opt/berth/berth-daemon.cjs',
  bootstrap: '/opt/berth/bootstrap.sh',
  node: '/usr/local/bin/node',
  python: '/usr/local/bin/python3.11',
  /** The unprivileged user bots run as. */
  botUid: 10001,
  botGid: 10001,
} as const;

/** Relative to the work dir. */
export const WORK_FILES = {
  log: 'logs/bot.log',
  done: 'done',
  /** Generated entrypoints. */
  pythonEntrypoint: 'entrypoint.py',
  nodeEntrypoint: 'entrypoint.mjs',
} as const;

export const DAEMON_DEFAULTS = {
  debounceMs: 500,
  maxWaitMs: 5000,
  logIntervalMs: 2000,
  graceSeconds: 30,
  maxExtractBytes: 512 * 1024 * 1024,
  maxExtractFiles: 20000,
} as const;

/** Exit codes of `berth-daemon init` so the services can tell why a container failed. */
export const INIT_EXIT = {
  objectStoreUnavailable: 70,
  codeMissing: 71,
  codeCorrupt: 72,
  packageRejected: 73,
  badSettings: 74,
  /** The saved state (state/<id>/state.tar.gz) is corrupt or unsafe; the bot is not started on an empty state. */
  stateRejected: 75,
} as const;
