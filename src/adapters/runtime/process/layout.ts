/**
 * On-disk layout of the process runtime. One directory per "container":
 *
 *   <dataDir>/<instance>/<name>/
 *     spec.json    the ContainerSpec as given (0600: env may hold secrets)
 *     launch.json  what the shim runs: argv, env, cwd, policies (0600)
 *     status.json  written by the shim only (the runtime writes it before the shim exists
 *                  and after the shim is known dead); replaced atomically
 *     stop.json    the grace period of the latest stop request, read by the shim on SIGTERM
 *     output.log   combined stdout+stderr, rotated (output.log.1, .2)
 *     shim.log     the shim's own diagnostics
 *     bot/ state/ work/   the daemon's /bot, /state and /var/berth
 *
 * The runtime builds the directory under a temporary name (`.creating-…`) and renames it
 * into place, so a container exists exactly when its complete directory does; removal
 * renames it away (`.removed-…`) before deleting it.
 *
 * status.json is written through a temp file in the *instance* directory and renamed into
 * place, so a single non-recursive fs.watch on the instance directory sees every status
 * change of every container (the rename names the container).
 *
 * Only Node built-ins: this module is loaded by every shim.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

/** What the shim records; `dead` is never written, it is derived from a shim that is gone. */
export type ShimState = 'created' | 'running' | 'restarting' | 'exited';

export interface ShimStatus {
  readonly id: string;
  readonly state: ShimState;
  readonly restartCount: number;
  readonly shimPid?: number;
  readonly shimIdentity?: string;
  /** Also the process group id of the container's processes. */
  readonly childPid?: number;
  readonly childIdentity?: string;
  /** Of the latest exit; kept while a restarted child runs so the last crash stays visible. */
  readonly exitCode?: number;
  /** True once a stop was requested: the shim no longer restarts. */
  readonly stopRequested?: boolean;
  readonly createdAt: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  /** Why the shim could not do its job, when it could not. */
  readonly error?: string;
}

export interface RestartBackoff {
  readonly initialMs: number;
  readonly maxMs: number;
  /** A child that ran at least this long counts as healthy: the next delay starts over. */
  readonly resetAfterMs: number;
}

/** Everything the shim needs; computed by the runtime so the shim stays dumb. */
export interface LaunchPlan {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly restartPolicy: 'always' | 'no';
  readonly stopGraceSeconds: number;
  readonly backoff: RestartBackoff;
  readonly log: { readonly maxBytes: number; readonly maxFiles: number };
}

export interface StopRequest {
  readonly graceSeconds: number;
}

/** Docker's restart back-off: 100 ms doubling up to a minute, reset after 10 s of running. */
export const DOCKER_BACKOFF: RestartBackoff = { initialMs: 100, maxMs: 60_000, resetAfterMs: 10_000 };
/** Like Docker's json-file driver capped at 10 MB × 3. */
export const DEFAULT_LOG_CAP = { maxBytes: 10 * 1024 * 1024, maxFiles: 3 } as const;

/** Docker's own rule for container names; also keeps names safe as one path segment. */
export const CONTAINER_NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

export interface ContainerPaths {
  readonly name: string;
  readonly instanceDir: string;
  readonly dir: string;
  readonly spec: string;
  readonly launch: string;
  readonly status: string;
  readonly statusTemp: string;
  readonly stopRequest: string;
  readonly log: string;
  readonly shimLog: string;
  readonly botDir: string;
  readonly stateDir: string;
  readonly workDir: string;
}

export function containerPaths(instanceDir: string, name: string): ContainerPaths {
  const dir = path.join(instanceDir, name);
  return {
    name,
    instanceDir,
    dir,
    spec: path.join(dir, 'spec.json'),
    launch: path.join(dir, 'launch.json'),
    status: path.join(dir, 'status.json'),
    statusTemp: path.join(instanceDir, statusTempName(name)),
    stopRequest: path.join(dir, 'stop.json'),
    log: path.join(dir, 'output.log'),
    shimLog: path.join(dir, 'shim.log'),
    botDir: path.join(dir, 'bot'),
    stateDir: path.join(dir, 'state'),
    workDir: path.join(dir, 'work'),
  };
}

const STATUS_TEMP_SUFFIX = '.status.tmp';

export function statusTempName(name: string): string {
  return `.${name}${STATUS_TEMP_SUFFIX}`;
}

/** The container a file name in the instance directory refers to, if any. */
export function containerNameOfEntry(entry: string): string | undefined {
  const name = entry.startsWith('.') && entry.endsWith(STATUS_TEMP_SUFFIX) ? entry.slice(1, -STATUS_TEMP_SUFFIX.length) : entry;
  return CONTAINER_NAME_PATTERN.test(name) ? name : undefined;
}

/** Temp file, fsync, rename: readers see the old or the new content, never half of it. */
export function writeFileAtomic(target: string, content: string, mode: number, tempPath?: string): void {
  const temp = tempPath ?? `${target}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(temp, 'w', mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(temp, target);
  } catch (err) {
    try {
      unlinkSync(temp);
    } catch {
      // already gone
    }
    throw err;
  }
}

export function writeStatus(paths: ContainerPaths, status: ShimStatus): void {
  writeFileAtomic(paths.status, `${JSON.stringify(status)}\n`, 0o644, paths.statusTemp);
}

export function readJson<T>(file: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text) as T;
}
