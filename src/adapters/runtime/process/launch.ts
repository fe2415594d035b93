/**
 * What a "container" of the process runtime runs: the same bootstrap.sh, daemon and bot as
 * the image, with the container paths replaced by directories of the container dir, and
 * the image's Node and Python replaced by the host's.
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import { DAEMON_ENV } from '../../../domain/daemon-contract.js';
import type { ContainerSpec } from '../../../ports/runtime.js';
import { DEFAULT_LOG_CAP, DOCKER_BACKOFF, type ContainerPaths, type LaunchPlan } from './layout.js';

export const BOOTSTRAP_FILE = 'bootstrap.sh';
export const DAEMON_FILE = 'berth-daemon.cjs';

/**
 * Host variables a process needs to work at all. Nothing else of `berth serve`'s own
 * environment is passed on: it may hold credentials, and a container would not see it.
 */
const HOST_ENV_PASSED_ON = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'USER', 'LOGNAME'] as const;

export interface LaunchHost {
  readonly daemonDir: string;
  readonly nodePath: string;
  /** Absolute path of a python3.11; undefined when the host has none. */
  readonly pythonPath: string | undefined;
  readonly hostEnv: Readonly<Record<string, string | undefined>>;
}

export function buildLaunchPlan(spec: ContainerSpec, paths: ContainerPaths, host: LaunchHost): LaunchPlan {
  const env: Record<string, string> = {};
  for (const name of HOST_ENV_PASSED_ON) {
    const value = host.hostEnv[name];
    if (value !== undefined) env[name] = value;
  }
  Object.assign(env, spec.env, daemonOverrides(paths, host));
  return {
    argv: spec.command ? [...spec.command] : ['sh', path.join(host.daemonDir, BOOTSTRAP_FILE)],
    env,
    cwd: paths.botDir,
    restartPolicy: spec.restartPolicy,
    stopGraceSeconds: spec.stopGraceSeconds,
    backoff: DOCKER_BACKOFF,
    log: DEFAULT_LOG_CAP,
  };
}

/**
 * The daemon's paths and interpreters on the host. BERTH_DAEMON_RUN_AS is empty: without
 * root we cannot drop privileges, and with root we do not pretend to isolate — the process
 * runtime is a development fallback with no isolation at all (same user, filesystem and
 * network as `berth serve`), and says so.
 */
function daemonOverrides(paths: ContainerPaths, host: LaunchHost): Record<string, string> {
  const overrides: Record<string, string> = {
    [DAEMON_ENV.botDir]: paths.botDir,
    [DAEMON_ENV.stateDir]: paths.stateDir,
    [DAEMON_ENV.workDir]: paths.workDir,
    [DAEMON_ENV.runAs]: '',
    [DAEMON_ENV.node]: host.nodePath,
    [DAEMON_ENV.script]: path.join(host.daemonDir, DAEMON_FILE),
  };
  // Without one, a python3.11 bot fails in `daemon init` with the daemon's own message.
  if (host.pythonPath !== undefined) overrides[DAEMON_ENV.python] = host.pythonPath;
  return overrides;
}

/** The first executable `python3.11` on PATH. */
export function findOnPath(command: string, pathVariable: string | undefined): string | undefined {
  for (const dir of (pathVariable ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, command);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
