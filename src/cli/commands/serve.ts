/** `berth serve`, `berth bot-runner`, `berth api`: load the settings, start, stop on a signal. */
import { loadConfig, type RawSettings } from '../../config/load.js';
import { SETTING_KEYS } from '../../config/settings.js';
import { startServer, type ServerRole } from '../../server/index.js';
import type { CliContext } from '../context.js';

export interface ServeFlags extends Record<string, unknown> {
  readonly configFile?: string;
}

/** The setting flags commander parsed, by setting key (commander camel-cases `--data-dir`). */
export function settingFlags(flags: Readonly<Record<string, unknown>>): RawSettings {
  const out: RawSettings = {};
  for (const key of SETTING_KEYS) {
    const value = flags[key];
    if (typeof value === 'string') out[key] = value;
  }
  return out;
}

export async function serve(ctx: CliContext, role: ServerRole, flags: ServeFlags): Promise<void> {
  const config = loadConfig({
    flags: settingFlags(flags),
    ...(flags.configFile !== undefined ? { configFile: flags.configFile } : {}),
    env: ctx.env,
    cwd: ctx.cwd,
  });
  const server = await startServer(config, { role, signal: ctx.signal });
  ctx.io.err(`berth: ${role} running; Ctrl-C stops it (bots keep running)\n`);
  await untilAborted(ctx.signal);
  ctx.io.err(`berth: stopping ${role}; bots keep running\n`);
  await server.stop();
}

export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
