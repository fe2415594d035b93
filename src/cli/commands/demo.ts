/**
 * `berth demo`: the README's first command. Starts Berth on embedded defaults in its own
 * data directory, deploys the example bots, waits until they run, shows the table, some
 * log lines and each bot's persisted state growing, then keeps running until Ctrl-C — or,
 * with `--once`, removes what it deployed and exits (tests and CI).
 */
import { createServer } from 'node:net';
import path from 'node:path';
import { findOnPath } from '../../adapters/runtime/process/launch.js';
import { loadConfig, type RawSettings, type ServerConfig } from '../../config/load.js';
import type { BotView, StateSnapshot } from '../../core/queries/index.js';
import type { LogEntry } from '../../domain/logs.js';
import { PACKAGE_ROOT } from '../../image/paths.js';
import { startServer, type RunningServer } from '../../server/index.js';
import { ApiClient, DEFAULT_API_URL } from '../client.js';
import type { CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { botsTable, logLine, stateText } from '../present.js';
import { deploy, type PackageTools } from './deploy.js';
import { settingFlags, untilAborted, type ServeFlags } from './serve.js';

export interface DemoFlags extends ServeFlags {
  readonly once?: boolean;
}

export interface DemoBot {
  readonly id: string;
  readonly dir: string;
  readonly python: boolean;
}

export const DEMO_BOTS: readonly DemoBot[] = [
  { id: 'python-counter', dir: 'python-counter', python: true },
  { id: 'node-counter', dir: 'node-counter', python: false },
  { id: 'the0-python', dir: 'the0-python', python: true },
];

export const DEMO_DEFAULTS: RawSettings = {
  dataDir: '.berth/demo',
  // The example bots need no network; `none` also works on engines without a bridge.
  network: 'none',
  // Its own label: a `berth serve` on the same engine never touches the demo's bots.
  instance: 'demo',
  grace: '10',
};

const RUN_DEADLINE_MS = 180_000;
const POLL_MS = 500;

/** The persisted counter of an example bot: `count` in state.json, or the0's `ticks` key. */
export function counterOf(snapshot: StateSnapshot | undefined): number | undefined {
  const json = snapshot?.stateJson as { count?: unknown } | undefined;
  if (typeof json?.count === 'number') return json.count;
  const ticks = snapshot?.keys?.ticks;
  return typeof ticks === 'number' ? ticks : undefined;
}

export async function demo(ctx: CliContext, flags: DemoFlags, tools: PackageTools): Promise<void> {
  const config = loadConfig({
    flags: settingFlags(flags),
    ...(flags.configFile !== undefined ? { configFile: flags.configFile } : {}),
    env: ctx.env,
    cwd: ctx.cwd,
    defaults: { ...DEMO_DEFAULTS, listen: (await portFree(7070)) ? '127.0.0.1:7070' : '127.0.0.1:0' },
  });
  const say = (text = '') => ctx.io.out(`${text}\n`);
  const logFile = path.join(config.dataDir, 'berth.log');
  say(`Berth demo: embedded store, object store and events under ${path.relative(ctx.cwd, config.dataDir) || '.'} (service log: ${path.relative(ctx.cwd, logFile)})`);
  const server = await startServer(config, { announce: (line) => say(`  ${line}`), logFile, signal: ctx.signal });
  const client = new ApiClient({ baseUrl: server.url!, ...(config.apiToken ? { token: config.apiToken } : {}) });
  const deployed: string[] = [];
  let failed = true;
  try {
    const bots = pickBots(server, config, say);
    say('\nDeploying the example bots:');
    const quiet: CliContext = { ...ctx, io: { out: () => undefined, err: ctx.io.err } };
    for (const bot of bots) {
      const dir = path.join(PACKAGE_ROOT, 'examples', bot.dir);
      const outcome = await deploy(quiet, client, tools, dir, {});
      deployed.push(bot.id);
      say(`  ${outcome.op.padEnd(9)} ${bot.id.padEnd(15)} ${outcome.bot.runtime} ${outcome.bot.entrypoint}  (examples/${bot.dir})`);
    }
    say('\nWaiting until they run and have saved state…');
    const before = await untilRunning(ctx, client, deployed);
    await show(ctx, client, deployed, before);
    failed = false;
  } finally {
    if (flags.once || failed) await cleanUp(ctx, client, server, deployed, say);
    else if (!ctx.signal.aborted) {
      say(`\nBerth is running at ${server.url}. In another terminal:`);
      const api = server.url === DEFAULT_API_URL ? '' : `BERTH_API=${server.url} `;
      say(`  ${api}npx berth ls`);
      say(`  ${api}npx berth logs python-counter -f`);
      say(`  ${api}npx berth state node-counter`);
      say('Ctrl-C stops the server; the bots keep running.');
      await untilAborted(ctx.signal);
    }
    await server.stop();
    if (!flags.once && !failed) {
      say('\nStopped the server. The demo bots keep running (state and logs keep being saved).');
      say('Remove them: start the demo again (npm run demo) and run `npx berth rm <id>` for each,');
      say('or run `node bin/berth.js demo --once`, which removes its bots when it is done.');
    }
  }
}

function pickBots(server: RunningServer, config: ServerConfig, say: (t: string) => void): DemoBot[] {
  if (server.runtime !== 'process' || config.python || findOnPath('python3.11', process.env.PATH)) return [...DEMO_BOTS];
  say('  python3.11 is not on PATH: skipping the Python examples on the process runtime (set BERTH_PYTHON to use another interpreter)');
  return DEMO_BOTS.filter((b) => !b.python);
}

/** Polls until every bot runs and has persisted a counter; a failing bot ends the wait at once. */
async function untilRunning(ctx: CliContext, client: ApiClient, ids: readonly string[]): Promise<Map<string, number>> {
  const deadline = Date.now() + RUN_DEADLINE_MS;
  for (;;) {
    ctx.signal.throwIfAborted();
    const { bots } = await client.get<{ bots: BotView[] }>('/v1/bots', { signal: ctx.signal });
    const mine = bots.filter((v) => ids.includes(v.bot.id));
    const broken = mine.find((v) => v.state === 'crash-looping' || v.state === 'failed');
    if (broken) {
      const tail = (broken.recentLogs ?? []).map((e) => `  ${logLine(e)}`).join('\n');
      throw new CliError(`${broken.bot.id} is ${broken.state}${broken.status?.lastError ? `: ${broken.status.lastError}` : ''}${tail ? `\n${tail}` : ''}`);
    }
    if (mine.length === ids.length && mine.every((v) => v.state === 'running')) {
      const counters = new Map<string, number>();
      for (const id of ids) {
        const n = counterOf(await client.get<StateSnapshot>(`/v1/bots/${id}/state`, { signal: ctx.signal }));
        if (n !== undefined) counters.set(id, n);
      }
      if (counters.size === ids.length) return counters;
    }
    if (Date.now() > deadline) {
      throw new CliError(`the example bots did not all run within ${RUN_DEADLINE_MS / 1000} s:\n${botsTable(mine, ctx.now())}`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function show(ctx: CliContext, client: ApiClient, ids: readonly string[], before: Map<string, number>): Promise<void> {
  const say = (text = '') => ctx.io.out(`${text}\n`);
  const { bots } = await client.get<{ bots: BotView[] }>('/v1/bots', { signal: ctx.signal });
  say('\n$ berth ls');
  ctx.io.out(botsTable(bots, ctx.now()));
  for (const id of ids) {
    const { entries } = await client.get<{ entries: LogEntry[] }>(`/v1/bots/${id}/logs`, { query: { tail: 3 }, signal: ctx.signal });
    say(`\n$ berth logs ${id} --tail 3`);
    for (const e of entries) say(logLine(e));
    say(`\n$ berth state ${id}`);
    ctx.io.out(stateText(await client.get<StateSnapshot>(`/v1/bots/${id}/state`, { signal: ctx.signal }), ctx.now()));
  }
  say('\nWaiting for every counter to grow…');
  const deadline = Date.now() + 60_000;
  const grown = new Map<string, number>();
  while (grown.size < ids.length) {
    ctx.signal.throwIfAborted();
    for (const id of ids) {
      if (grown.has(id)) continue;
      const n = counterOf(await client.get<StateSnapshot>(`/v1/bots/${id}/state`, { signal: ctx.signal }));
      if (n !== undefined && n > (before.get(id) ?? 0)) grown.set(id, n);
    }
    if (grown.size < ids.length) {
      if (Date.now() > deadline) throw new CliError(`the persisted counters of ${ids.filter((i) => !grown.has(i)).join(', ')} did not grow within 60 s`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }
  say(ids.map((id) => `  ${id}: ${before.get(id)} → ${grown.get(id)}`).join('\n'));
}

/** Removes the demo's bots and waits until their containers (or processes) are gone. */
async function cleanUp(ctx: CliContext, client: ApiClient, server: RunningServer, ids: readonly string[], say: (t: string) => void): Promise<void> {
  if (ids.length === 0) return;
  say('\nRemoving the demo bots…');
  for (const id of ids) {
    try {
      await client.request('DELETE', `/v1/bots/${id}`);
      say(`  removed ${id}`);
    } catch (err) {
      say(`  could not remove ${id}: ${(err as Error).message}`);
    }
  }
  const runtime = server.containers;
  if (!runtime) return;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const left = (await runtime.list({})).filter((c) => ids.includes(c.botId));
    if (left.length === 0) break;
    if (Date.now() > deadline) {
      say(`  still present after 60 s: ${left.map((c) => c.name).join(', ')}`);
      break;
    }
    await server.botService?.reconcileAll().catch(() => undefined);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  say('  containers gone');
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host: '127.0.0.1', port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}
