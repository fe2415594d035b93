/**
 * The bot's environment (DESIGN §3, §5): the container's environment without any daemon
 * setting or secret, plus what the seed platform's packages expect.
 */
import path from 'node:path';
import { BOT_ENV_PREFIX, DAEMON_PRIVATE_ENV_PREFIXES } from '../domain/daemon-contract.js';
import type { DaemonSettings } from './settings.js';
import { botHomeDir } from './work-paths.js';

/** Sub-directory of the state dir where the0's SDK keeps one JSON file per key. */
export const THE0_STATE_SUBDIR = '.the0-state';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function isPrivateVariable(name: string): boolean {
  return DAEMON_PRIVATE_ENV_PREFIXES.some((prefix) => name.startsWith(prefix));
}

export function botEnvironment(base: Readonly<Record<string, string | undefined>>, s: DaemonSettings): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(base)) {
    if (value !== undefined && !isPrivateVariable(name) && !name.startsWith(BOT_ENV_PREFIX)) env[name] = value;
  }
  // The bot's own variables (BOT_ENV_PREFIX) get their real names only here, in the bot's
  // environment, and never replace what Berth set (validation refuses those names anyway).
  for (const [name, value] of Object.entries(base)) {
    if (value === undefined || !name.startsWith(BOT_ENV_PREFIX)) continue;
    const real = name.slice(BOT_ENV_PREFIX.length);
    if (real !== '' && !isPrivateVariable(real) && !(real in env)) env[real] = value;
  }
  env['BOT_ID'] ??= s.botId;
  env['BOT_CONFIG'] ??= '{}';
  env['BOT_TYPE'] ??= s.kind === 'live' ? 'realtime' : 'scheduled';
  env['STATE_DIR'] = path.join(s.stateDir, THE0_STATE_SUBDIR);
  env['BERTH_STATE_DIR'] = s.stateDir;
  env['CODE_MOUNT_DIR'] = 'bot';
  if (s.entrypoint !== undefined) env['SCRIPT_PATH'] = s.entrypoint;
  env['PYTHONPATH'] = `${path.join(s.botDir, 'vendor')}:${s.botDir}`;
  env['PYTHONUNBUFFERED'] = '1';
  env['PYTHONDONTWRITEBYTECODE'] = '1';
  env['HOME'] = botHomeDir(s.workDir);
  env['PATH'] = base['PATH'] || DEFAULT_PATH;
  return env;
}
