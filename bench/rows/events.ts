/**
 * Row "change → container start across processes": a bot is enabled through the API and
 * the clock stops when the Engine has created (and started) its container.
 *
 * - in-process bus: the suite's one `berth serve` (API and BotService in one process);
 * - NATS: `berth api` and `berth bot-runner` as separate processes on one data directory,
 *   over a nats-server started here (127.0.0.1, random ports, stopped by PID).
 *
 * Both runners have long timers (the serve's 10 s, the runner's 1 h), so what is measured is
 * the event path. Rounds alternate between the two setups; each round disables the bot again
 * and waits for its container to be gone. Times: the host's clock for the request, the
 * Engine's timestamps (same host) for created/started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { containerTimes, removeInstanceContainers } from '../lib/docker.js';
import { idlePackage } from '../lib/packages.js';
import { verdict, type Row } from '../lib/report.js';
import { BERTH_BIN, REPO_ROOT, api, deleteBot, deployPackage } from '../lib/serve.js';
import { median, ms, percentile } from '../lib/stats.js';
import { waitUntil, type DockerBench } from './context.js';
import { containerNameFor } from '../../src/domain/container-name.js';

export const EVENTS_ROW = {
  key: 'events',
  title: '9. change → container start across processes (NATS vs in-process bus)',
  goal: 'NATS ≤ 1 s',
} as const;

interface Setup {
  readonly name: string;
  readonly url: string;
  readonly instance: string;
}

interface Sample {
  readonly createdMs: number;
  readonly startedMs: number;
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

/** Spawns a process, tracked for cleanup by PID, and waits until its stderr matches `ready`. */
async function launch(ctx: DockerBench, what: string, command: string, args: readonly string[], ready: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(command, args, { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = once(child, 'exit');
  ctx.cleanup.add('processes', `kill ${what} (pid ${child.pid})`, async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} not ready within 120 s:\n${stderr.slice(-2000)}`)), 120_000);
    child.stderr!.on('data', (d: string) => {
      if (stderr.length < 1 << 20) stderr += d;
      const m = ready.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${String(code)}):\n${stderr.slice(-2000)}`));
    });
  });
  return { child, match };
}

async function startNats(ctx: DockerBench): Promise<string> {
  const port = await freePort();
  const monitor = await freePort();
  const storeDir = await mkdtemp(join(os.tmpdir(), 'berth-bench-nats-'));
  ctx.cleanup.add('files', `remove ${storeDir}`, () => rm(storeDir, { recursive: true, force: true }));
  // nats-server logs to stderr; "Server is ready" comes after the listeners are up.
  await launch(ctx, 'nats-server', 'nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, '-m', String(monitor)], /Server is ready/);
  return `nats://127.0.0.1:${port}`;
}

async function startSplit(ctx: DockerBench): Promise<Setup> {
  const events = await startNats(ctx);
  const instance = `${ctx.instance}-split`;
  const dataDir = await mkdtemp(join(os.tmpdir(), 'berth-bench-split-'));
  ctx.cleanup.add('files', `remove ${dataDir}`, () => rm(dataDir, { recursive: true, force: true }));
  ctx.cleanup.add('containers', `remove containers of instance ${instance}`, () => removeInstanceContainers(ctx.docker, instance));
  const common = ['--data-dir', dataDir, '--runtime', 'docker', '--instance', instance, '--image', ctx.image, '--network', 'none', '--grace', '2', '--events', events, '--log-level', 'warn'];
  await launch(ctx, 'berth bot-runner', process.execPath, [BERTH_BIN, 'bot-runner', ...common, '--interval', '1h'], /bot-runner running/);
  const { match } = await launch(ctx, 'berth api', process.execPath, [BERTH_BIN, 'api', ...common, '--listen', '127.0.0.1:0'], /API listening on (http:\/\/\S+)/);
  return { name: 'NATS, api + bot-runner', url: match[1]!.replace(/\/$/, ''), instance };
}

async function oneChange(ctx: DockerBench, setup: Setup, id: string): Promise<Sample> {
  const name = containerNameFor(setup.instance, id);
  const sentAt = Date.now();
  await api(setup.url, `/v1/bots/${id}/enable`, { method: 'POST' });
  const times = await waitUntil(`${name} started`, async () => {
    const t = await containerTimes(ctx.docker, name).catch(() => undefined);
    return t?.startedAt !== undefined && t.createdAt !== undefined ? t : undefined;
  }, 60_000, 20);
  await api(setup.url, `/v1/bots/${id}/disable`, { method: 'POST' });
  await waitUntil(`${name} gone`, async () => ((await containerTimes(ctx.docker, name).catch(() => undefined)) === undefined ? true : undefined), 60_000, 50);
  return { createdMs: times.createdAt! - sentAt, startedMs: times.startedAt! - sentAt };
}

export async function eventsRow(ctx: DockerBench, rounds: number): Promise<Row> {
  const split = await startSplit(ctx);
  const local: Setup = { name: 'in-process bus, berth serve', url: ctx.serve.url, instance: ctx.instance };
  const pkg = await idlePackage();
  const setups = [local, split];
  const ids = new Map<Setup, string>();
  for (const setup of setups) {
    const id = `bench-evt-${ctx.tag}-${setup === split ? 'nats' : 'mem'}`;
    await deployPackage(setup.url, id, pkg, { runtime: 'python3.11', entrypoint: 'main.py', enabled: false });
    ids.set(setup, id);
  }
  const samples = new Map<Setup, Sample[]>(setups.map((s) => [s, []]));
  ctx.say(`events: ${rounds} enable → container started rounds per setup, alternating`);
  for (let i = 0; i < rounds; i++) {
    for (const setup of i % 2 === 0 ? setups : [...setups].reverse()) samples.get(setup)!.push(await oneChange(ctx, setup, ids.get(setup)!));
  }
  for (const setup of setups) await deleteBot(setup.url, ids.get(setup)!);

  const summary = (s: Setup) => {
    const list = samples.get(s)!;
    const created = list.map((x) => x.createdMs);
    const started = list.map((x) => x.startedMs);
    return { createdP50: median(created), createdP90: percentile(created, 90), startedP50: median(started), startedP90: percentile(started, 90), created, started };
  };
  const nats = summary(split);
  const mem = summary(local);
  return {
    key: EVENTS_ROW.key,
    title: EVENTS_ROW.title,
    result: `NATS: created p50 ${ms(nats.createdP50)}, started p50 ${ms(nats.startedP50)} (p90 ${ms(nats.startedP90)})`,
    sideBySide: `in-process: created p50 ${ms(mem.createdP50)}, started p50 ${ms(mem.startedP50)} (p90 ${ms(mem.startedP90)})`,
    goal: EVENTS_ROW.goal,
    verdict: verdict(nats.startedP90 <= 1000),
    details: [
      `${rounds} rounds per setup, alternating; enable request sent → container created / started (Engine timestamps)`,
      `NATS path: berth api writes SQLite, publishes berth.bot.<id>.changed, berth bot-runner (timer 1 h) reconciles that bot`,
      `the difference between the two is the cost of crossing processes (NATS round trip, a second SQLite reader)`,
    ],
    figures: { rounds, nats, inProcess: mem },
  };
}
