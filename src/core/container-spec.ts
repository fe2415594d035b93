/**
 * Turns a bot's desired state into the runtime's ContainerSpec (DESIGN §5). The daemon in
 * the container learns everything from the BERTH_DAEMON_* variables (daemon-contract.ts);
 * the bot's own variables are BOT_ID, BOT_CONFIG, BOT_TYPE and the user's env. Paths the
 * bot sees (STATE_DIR, PYTHONPATH, the0's SCRIPT_PATH…) are set by the daemon, which knows
 * where it put things — the process runtime moves them.
 */
import type { Bot } from '../domain/bot.js';
import { BOT_ENV_PREFIX, CONTAINER_PATHS, DAEMON_DEFAULTS, DAEMON_ENV } from '../domain/daemon-contract.js';
import type { DaemonObjectAccess } from '../ports/objects.js';
import type { ContainerSpec } from '../ports/runtime.js';

export interface DaemonSettings {
  /** Quiet period before a state change is uploaded. */
  readonly debounceMs: number;
  /** Upper bound on how long a stream of writes can delay an upload. */
  readonly maxWaitMs: number;
  /** How often log lines are shipped. */
  readonly logIntervalMs: number;
}

export const DEFAULT_DAEMON_SETTINGS: DaemonSettings = {
  debounceMs: DAEMON_DEFAULTS.debounceMs,
  maxWaitMs: DAEMON_DEFAULTS.maxWaitMs,
  logIntervalMs: DAEMON_DEFAULTS.logIntervalMs,
};

/**
 * Seconds the runtime waits after SIGTERM beyond the bot's own grace period: the daemon
 * gives the bot `graceSeconds` to save, then needs time for the final upload of state and
 * logs. Without it, SIGKILL would land exactly when the final sync starts.
 */
export const FINAL_SYNC_SECONDS = 10;

export interface ContainerSpecContext {
  readonly image: string;
  /** specHash(bot, image), computed by the caller so it is hashed once per pass. */
  readonly specHash: string;
  /** Seconds the bot gets to save after SIGTERM. */
  readonly graceSeconds: number;
  readonly networkMode: string;
  readonly objectAccess: DaemonObjectAccess;
  readonly daemon: DaemonSettings;
  /** The runtime's name for this container (ContainerRuntime.containerName). */
  readonly name: string;
  /** Scheduled runs only: labels the run and makes the restart policy `no`. */
  readonly runId?: string;
  /** Scheduled runs started ahead of their slot: the daemon starts the bot at this instant. */
  readonly startAt?: Date;
}

export function buildContainerSpec(bot: Bot, ctx: ContainerSpecContext): ContainerSpec {
  const live = bot.kind === 'live';
  return {
    name: ctx.name,
    botId: bot.id,
    kind: bot.kind,
    specHash: ctx.specHash,
    ...(ctx.runId !== undefined ? { runId: ctx.runId } : {}),
    image: ctx.image,
    env: containerEnv(bot, ctx),
    restartPolicy: live && ctx.runId === undefined ? 'always' : 'no',
    memoryMb: bot.resources.memoryMb,
    cpus: bot.resources.cpus,
    pids: bot.resources.pids,
    stopGraceSeconds: ctx.graceSeconds + FINAL_SYNC_SECONDS,
    networkMode: ctx.networkMode,
    mounts: ctx.objectAccess.mounts.map((m) => ({ source: m.source, target: m.target, readOnly: m.readOnly })),
  };
}

/**
 * The user's env first, Berth's after, so that nothing the user wrote can change what the
 * daemon is told (validation already refuses those names; this keeps it true regardless).
 */
export function containerEnv(bot: Bot, ctx: ContainerSpecContext): Record<string, string> {
  return {
    ...Object.fromEntries(Object.entries(bot.env).map(([name, value]) => [`${BOT_ENV_PREFIX}${name}`, value])),
    BOT_ID: bot.id,
    BOT_CONFIG: JSON.stringify(bot.config),
    BOT_TYPE: bot.kind === 'live' ? 'realtime' : 'scheduled',
    ...daemonEnv(bot, ctx),
    ...ctx.objectAccess.env,
  };
}

function daemonEnv(bot: Bot, ctx: ContainerSpecContext): Record<string, string> {
  const env: Record<string, string> = {
    [DAEMON_ENV.botId]: bot.id,
    [DAEMON_ENV.kind]: bot.kind,
    [DAEMON_ENV.runtime]: bot.runtime,
    [DAEMON_ENV.entrypoint]: bot.entrypoint,
    [DAEMON_ENV.flavor]: bot.flavor,
    [DAEMON_ENV.codeKey]: bot.code.key,
    [DAEMON_ENV.codeSha256]: bot.code.sha256,
    [DAEMON_ENV.codeFormat]: bot.code.format,
    [DAEMON_ENV.graceSeconds]: String(ctx.graceSeconds),
    [DAEMON_ENV.debounceMs]: String(ctx.daemon.debounceMs),
    [DAEMON_ENV.maxWaitMs]: String(ctx.daemon.maxWaitMs),
    [DAEMON_ENV.logIntervalMs]: String(ctx.daemon.logIntervalMs),
    [DAEMON_ENV.botDir]: CONTAINER_PATHS.botDir,
    [DAEMON_ENV.stateDir]: CONTAINER_PATHS.stateDir,
    [DAEMON_ENV.workDir]: CONTAINER_PATHS.workDir,
    [DAEMON_ENV.runAs]: `${CONTAINER_PATHS.botUid}:${CONTAINER_PATHS.botGid}`,
    [DAEMON_ENV.python]: CONTAINER_PATHS.python,
    [DAEMON_ENV.node]: CONTAINER_PATHS.node,
    [DAEMON_ENV.maxExtractBytes]: String(DAEMON_DEFAULTS.maxExtractBytes),
    [DAEMON_ENV.maxExtractFiles]: String(DAEMON_DEFAULTS.maxExtractFiles),
  };
  if (ctx.runId !== undefined) env[DAEMON_ENV.runId] = ctx.runId;
  if (ctx.startAt !== undefined) env[DAEMON_ENV.startAt] = String(ctx.startAt.getTime());
  return env;
}
