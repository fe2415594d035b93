/**
 * The daemon's settings, read once from the BERTH_DAEMON_* environment (the contract in
 * src/domain/daemon-contract.ts). A missing or malformed value is a DaemonFailure with exit
 * code INIT_EXIT.badSettings and a message naming the variable.
 */
import { CONTAINER_PATHS, DAEMON_DEFAULTS, DAEMON_ENV, INIT_EXIT } from '../domain/daemon-contract.js';
import { DaemonFailure } from './failure.js';

export type DaemonRuntime = 'python3.11' | 'nodejs20';

export interface DaemonSettings {
  readonly botId: string;
  readonly kind: 'live' | 'scheduled';
  readonly runId: string | undefined;
  readonly runtime: DaemonRuntime | undefined;
  readonly entrypoint: string | undefined;
  readonly flavor: 'berth' | 'the0';
  readonly codeKey: string | undefined;
  readonly codeSha256: string | undefined;
  readonly objects: string;
  readonly graceSeconds: number;
  readonly debounceMs: number;
  readonly maxWaitMs: number;
  readonly logIntervalMs: number;
  readonly botDir: string;
  readonly stateDir: string;
  readonly workDir: string;
  /** Undefined: run the bot as the daemon's own user. */
  readonly runAs: { uid: number; gid: number } | undefined;
  readonly python: string;
  readonly node: string;
  readonly maxExtractBytes: number;
  readonly maxExtractFiles: number;
  /** Epoch ms before which the bot is not started; undefined: at once. */
  readonly startAt: number | undefined;
}

/** Spellings accepted for the runtime (the services always send the canonical one). */
const RUNTIMES: Readonly<Record<string, DaemonRuntime>> = {
  'python3.11': 'python3.11',
  python3: 'python3.11',
  python: 'python3.11',
  nodejs20: 'nodejs20',
  nodejs: 'nodejs20',
  node: 'nodejs20',
};

const BOT_ID = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

type Env = Readonly<Record<string, string | undefined>>;

function bad(variable: string, problem: string): DaemonFailure {
  return new DaemonFailure(INIT_EXIT.badSettings, `${variable} ${problem}`);
}

function text(env: Env, variable: string): string | undefined {
  const v = env[variable];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function required(env: Env, variable: string): string {
  const v = text(env, variable);
  if (v === undefined) throw bad(variable, 'is not set');
  return v;
}

function integer(env: Env, variable: string, fallback: number, min: number): number {
  const v = text(env, variable);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v) || Number(v) < min) throw bad(variable, `must be a whole number of at least ${min} (got ${JSON.stringify(v)})`);
  return Number(v);
}

function parseRunAs(v: string | undefined): { uid: number; gid: number } | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+):(\d+)$/.exec(v);
  if (!m) throw bad(DAEMON_ENV.runAs, `must be "uid:gid" or empty (got ${JSON.stringify(v)})`);
  return { uid: Number(m[1]), gid: Number(m[2]) };
}

/** `needCode`: init needs the code and runtime settings; sync does not. */
export function readSettings(env: Env, { needCode }: { needCode: boolean }): DaemonSettings {
  const botId = required(env, DAEMON_ENV.botId);
  if (!BOT_ID.test(botId)) throw bad(DAEMON_ENV.botId, `is not a valid bot id (${JSON.stringify(botId)})`);
  const kindText = text(env, DAEMON_ENV.kind) ?? 'live';
  if (kindText !== 'live' && kindText !== 'scheduled') throw bad(DAEMON_ENV.kind, `must be live or scheduled (got ${JSON.stringify(kindText)})`);
  const runtimeText = needCode ? required(env, DAEMON_ENV.runtime) : text(env, DAEMON_ENV.runtime);
  const runtime = runtimeText === undefined ? undefined : RUNTIMES[runtimeText];
  if (runtimeText !== undefined && runtime === undefined) {
    throw bad(DAEMON_ENV.runtime, `names an unknown runtime ${JSON.stringify(runtimeText)}; use python3.11 or nodejs20`);
  }
  const entrypoint = needCode ? required(env, DAEMON_ENV.entrypoint) : text(env, DAEMON_ENV.entrypoint);
  if (entrypoint !== undefined && (entrypoint.startsWith('/') || entrypoint.split('/').includes('..'))) {
    throw bad(DAEMON_ENV.entrypoint, `must be a relative path inside the package (got ${JSON.stringify(entrypoint)})`);
  }
  const flavorText = text(env, DAEMON_ENV.flavor) ?? 'berth';
  if (flavorText !== 'berth' && flavorText !== 'the0') throw bad(DAEMON_ENV.flavor, `must be berth or the0 (got ${JSON.stringify(flavorText)})`);
  const codeSha256 = needCode ? required(env, DAEMON_ENV.codeSha256).toLowerCase() : text(env, DAEMON_ENV.codeSha256);
  if (codeSha256 !== undefined && !/^[0-9a-f]{64}$/.test(codeSha256)) throw bad(DAEMON_ENV.codeSha256, 'must be 64 hex digits');
  const graceSeconds = integer(env, DAEMON_ENV.graceSeconds, DAEMON_DEFAULTS.graceSeconds, 1);
  const debounceMs = integer(env, DAEMON_ENV.debounceMs, DAEMON_DEFAULTS.debounceMs, 0);
  const maxWaitMs = Math.max(debounceMs, integer(env, DAEMON_ENV.maxWaitMs, DAEMON_DEFAULTS.maxWaitMs, 0));
  return {
    botId,
    kind: kindText,
    runId: text(env, DAEMON_ENV.runId),
    runtime,
    entrypoint,
    flavor: flavorText,
    codeKey: needCode ? required(env, DAEMON_ENV.codeKey) : text(env, DAEMON_ENV.codeKey),
    codeSha256,
    objects: required(env, DAEMON_ENV.objects),
    graceSeconds,
    debounceMs,
    maxWaitMs,
    logIntervalMs: integer(env, DAEMON_ENV.logIntervalMs, DAEMON_DEFAULTS.logIntervalMs, 10),
    botDir: text(env, DAEMON_ENV.botDir) ?? CONTAINER_PATHS.botDir,
    stateDir: text(env, DAEMON_ENV.stateDir) ?? CONTAINER_PATHS.stateDir,
    workDir: text(env, DAEMON_ENV.workDir) ?? CONTAINER_PATHS.workDir,
    runAs: parseRunAs(text(env, DAEMON_ENV.runAs)),
    python: text(env, DAEMON_ENV.python) ?? CONTAINER_PATHS.python,
    node: text(env, DAEMON_ENV.node) ?? CONTAINER_PATHS.node,
    maxExtractBytes: integer(env, DAEMON_ENV.maxExtractBytes, DAEMON_DEFAULTS.maxExtractBytes, 1),
    maxExtractFiles: integer(env, DAEMON_ENV.maxExtractFiles, DAEMON_DEFAULTS.maxExtractFiles, 1),
    startAt: text(env, DAEMON_ENV.startAt) === undefined ? undefined : integer(env, DAEMON_ENV.startAt, 0, 0),
  };
}
