/**
 * The benchmarks of issue 2, on demand: `npm run bench` (full, ~6–10 min on 2 cores) or
 * `npm run bench -- --quick` (40 state writes instead of 200). `--only planner,deploy,…`
 * picks rows (planner, reconcile, deploy, state, s3-state, memory, store-reconcile, events, schedule, logs;
 * reconcile needs the memory row's fleet and brings it along).
 *
 * Prints one table and writes the same figures to bench/results/latest.json. Rows that
 * need Docker say why they could not be measured when it is missing. Everything started
 * here — containers (by their bench-unique `berth.instance` label), the `berth serve`
 * process (by PID), temporary directories — is removed at the end, on failure and on Ctrl-C.
 */
import Docker from 'dockerode';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBotImage } from '../src/image/index.js';
import { Cleanup } from './lib/cleanup.js';
import { dockerUnavailable, removeInstanceContainers } from './lib/docker.js';
import { formatTable, notMeasured, type Row } from './lib/report.js';
import { BerthServe } from './lib/serve.js';
import type { DockerBench } from './rows/context.js';
import { deployRow } from './rows/deploy.js';
import { EVENTS_ROW, eventsRow } from './rows/events.js';
import { LOG_TAIL_ROW, logTailRow } from './rows/log-tail.js';
import { DAEMON_ROW, SERVE_ROW, fleetRows } from './rows/memory.js';
import { plannerRow } from './rows/planner.js';
import { reconcileRow } from './rows/reconcile.js';
import { JITTER_ROW, SCHEDULER_MEMORY_ROW, jitterRow, schedulerMemoryRow } from './rows/schedule.js';
import { S3_STATE_ROW, s3StateRow } from './rows/s3-state.js';
import { stateRow } from './rows/state.js';
import { STORE_RECONCILE_ROW, storeReconcileRow } from './rows/store-reconcile.js';

const ROW_KEYS = ['planner', 'reconcile', 'deploy', 'state', 's3-state', 'memory', 'store-reconcile', 'events', 'schedule', 'logs'] as const;
type RowKey = (typeof ROW_KEYS)[number];
const ORDER = ['planner', 'reconcile', 'deploy', 'state', 's3-state', 'daemon-memory', 'serve-rss', 'schedule-jitter', 'scheduler-memory', 'store-reconcile', 'events', 'log-tail'];

const TITLES = {
  reconcile: { key: 'reconcile', title: '2. full reconcile pass, 100 running bots, no changes', goal: 'ratio ≤ 1.5' },
  deploy: { key: 'deploy', title: '3. deploy 1 MB package → bot running', goal: 'ratio ≤ 1.5' },
  state: { key: 'state', title: '4. state write → stored', goal: 'p99 ≤ 600 ms' },
  's3-state': S3_STATE_ROW,
} as const;

const SETTINGS = {
  plannerRuns: 200,
  reconcilePairs: 15,
  deployRuns: 5,
  fleetBots: 100,
  serveInterval: '10s',
  serveIntervalMs: 10_000,
} as const;

interface Options {
  readonly quick: boolean;
  readonly only: ReadonlySet<RowKey>;
}

function parseArgs(argv: readonly string[]): Options {
  let quick = false;
  let only = new Set<RowKey>(ROW_KEYS);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') quick = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const value = arg.includes('=') ? arg.slice('--only='.length) : argv[++i];
      const keys = (value ?? '').split(',').filter(Boolean);
      const unknown = keys.filter((k) => !(ROW_KEYS as readonly string[]).includes(k));
      if (keys.length === 0 || unknown.length > 0) usage(`--only takes a comma-separated list of ${ROW_KEYS.join(', ')}`);
      only = new Set(keys as RowKey[]);
    } else if (arg === '--help' || arg === '-h') usage();
    else usage(`unknown argument ${arg}`);
  }
  return { quick, only };
}

function usage(problem?: string): never {
  if (problem) process.stderr.write(`bench: ${problem}\n`);
  process.stderr.write(`usage: npm run bench [-- --quick] [-- --only ${ROW_KEYS.join(',')}]\n`);
  process.exit(problem ? 2 : 0);
}

const say = (line: string) => process.stderr.write(`[bench] ${line}\n`);

function tryCommand(command: string, args: readonly string[]): string | undefined {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function environment() {
  return {
    date: new Date().toISOString(),
    commit: tryCommand('git', ['rev-parse', '--short', 'HEAD']),
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryBytes: os.totalmem(),
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
    docker: tryCommand('docker', ['version', '--format', '{{.Server.Version}} (API {{.Server.APIVersion}})']),
  };
}

async function measureRow(fallback: { key: string; title: string; goal: string }, run: () => Promise<Row>): Promise<Row> {
  try {
    return await run();
  } catch (err) {
    say(`${fallback.title}: failed: ${(err as Error).message}`);
    return notMeasured(fallback.key, fallback.title, fallback.goal, `failed: ${(err as Error).message.split('\n')[0]}`);
  }
}

async function dockerRows(options: Options, cleanup: Cleanup, writes: number): Promise<Row[]> {
  const wanted = (['reconcile', 'deploy', 'state', 's3-state', 'memory', 'events', 'schedule'] as const).filter((k) => options.only.has(k));
  if (wanted.length === 0) return [];
  const skippedAll = (reason: string): Row[] =>
    wanted.flatMap((k) =>
      k === 'memory'
        ? [notMeasured(DAEMON_ROW.key, DAEMON_ROW.title, DAEMON_ROW.goal, reason), notMeasured(SERVE_ROW.key, SERVE_ROW.title, SERVE_ROW.goal, reason)]
        : k === 'events'
          ? [notMeasured(EVENTS_ROW.key, EVENTS_ROW.title, EVENTS_ROW.goal, reason)]
          : k === 'schedule'
            ? [notMeasured(JITTER_ROW.key, JITTER_ROW.title, JITTER_ROW.goal, reason)]
            : [notMeasured(TITLES[k].key, TITLES[k].title, TITLES[k].goal, reason)],
    );
  if (process.platform !== 'linux') return skippedAll(`needs Linux (/proc for memory, a local Docker Engine); this is ${process.platform}`);
  const docker = new Docker();
  const unavailable = await dockerUnavailable(docker);
  if (unavailable) return skippedAll(unavailable);

  let ctx: DockerBench;
  try {
    const imageStarted = Date.now();
    const built = await buildBotImage({ docker, method: 'offline', log: (line) => (/ exists$/.test(line) ? undefined : say(`image: ${line}`)) });
    if (built.builtNow) say(`built bot image ${built.tag} in ${((Date.now() - imageStarted) / 1000).toFixed(1)} s (not part of any figure)`);
    const tag = randomBytes(3).toString('hex');
    const instance = `bench-${tag}`;
    const dataDir = await mkdtemp(join(os.tmpdir(), 'berth-bench-'));
    cleanup.add('files', `remove ${dataDir}`, () => rm(dataDir, { recursive: true, force: true }));
    cleanup.add('containers', `remove containers of instance ${instance}`, async () => {
      const removed = await removeInstanceContainers(docker, instance);
      if (removed > 0) say(`cleanup: removed ${removed} containers labelled ${instance}`);
    });
    say(`starting berth serve (instance ${instance}, image ${built.tag}, data ${dataDir})`);
    const serve = await BerthServe.start({ dataDir, instance, image: built.tag, interval: SETTINGS.serveInterval, grace: '2' });
    cleanup.add('processes', `kill berth serve (pid ${serve.pid})`, () => serve.stop('SIGKILL'));
    ctx = { docker, image: built.tag, instance, dataDir, serve, cleanup, say, tag };
  } catch (err) {
    return skippedAll(`set-up failed: ${(err as Error).message.split('\n')[0]}`);
  }

  const rows: Row[] = [];
  if (options.only.has('deploy')) rows.push(await measureRow(TITLES.deploy, () => deployRow(ctx, SETTINGS.deployRuns)));
  if (options.only.has('state')) rows.push(await measureRow(TITLES.state, () => stateRow(ctx, writes)));
  if (options.only.has('s3-state')) rows.push(await measureRow(S3_STATE_ROW, () => s3StateRow(ctx, writes)));
  if (options.only.has('events')) rows.push(await measureRow(EVENTS_ROW, () => eventsRow(ctx, options.quick ? 5 : 15)));
  if (options.only.has('schedule')) rows.push(await measureRow(JITTER_ROW, () => jitterRow(ctx, options.quick ? 10 : 100)));
  if (options.only.has('memory') || options.only.has('reconcile')) {
    const fleet = await fleetRows(ctx, SETTINGS.fleetBots, SETTINGS.serveIntervalMs).catch((err: unknown) => {
      const reason = `failed: ${(err as Error).message.split('\n')[0]}`;
      say(`memory: ${reason}`);
      return { fleet: undefined, rows: [notMeasured(DAEMON_ROW.key, DAEMON_ROW.title, DAEMON_ROW.goal, reason), notMeasured(SERVE_ROW.key, SERVE_ROW.title, SERVE_ROW.goal, reason)] };
    });
    rows.push(...fleet.rows);
    if (options.only.has('reconcile')) {
      rows.push(
        fleet.fleet
          ? await measureRow(TITLES.reconcile, () => reconcileRow(ctx, fleet.fleet!, SETTINGS.reconcilePairs))
          : notMeasured(TITLES.reconcile.key, TITLES.reconcile.title, TITLES.reconcile.goal, 'needs the running fleet of row 5, which did not come up'),
      );
    }
  }
  return rows;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const cleanup = new Cleanup();
  cleanup.onSignals(say);
  const began = Date.now();
  const env = environment();
  const writes = options.quick ? 40 : 200;
  say(`${options.quick ? 'quick' : 'full'} run on ${env.cpus} CPUs, load average ${env.loadAverage.join(' ')}`);
  const rows: Row[] = [];
  try {
    if (options.only.has('planner')) {
      say(`planner: ${SETTINGS.plannerRuns} plans of 10,000 bots`);
      rows.push(await measureRow({ key: 'planner', title: '1. planner, 10k desired vs 10k actual, no changes', goal: '< 20 ms' }, () => plannerRow(SETTINGS.plannerRuns)));
    }
    rows.push(...(await dockerRows(options, cleanup, writes)));
    if (options.only.has('store-reconcile')) {
      // No Docker needed: a runtime double isolates the store's share of a pass.
      rows.push(await measureRow(STORE_RECONCILE_ROW, () => storeReconcileRow(cleanup, say, options.quick ? 10 : 30)));
    }
    if (options.only.has('schedule')) {
      rows.push(await measureRow(SCHEDULER_MEMORY_ROW, () => schedulerMemoryRow(cleanup, say, 1000)));
    }
    if (options.only.has('logs')) {
      // No Docker either: chunk files on a directory store.
      rows.push(await measureRow(LOG_TAIL_ROW, () => logTailRow(cleanup, say, options.quick ? 5 : 20, options.quick ? 3 : 5)));
    }
  } finally {
    await cleanup.runAll(say);
  }
  rows.sort((a, b) => ORDER.indexOf(a.key) - ORDER.indexOf(b.key));
  const seconds = (Date.now() - began) / 1000;

  const header = `Berth benchmarks — ${env.date}, commit ${env.commit ?? '?'}, ${options.quick ? 'quick' : 'full'} run in ${seconds.toFixed(0)} s\n` +
    `${env.platform}, ${env.cpus} × ${env.cpuModel ?? 'CPU'}, ${(env.memoryBytes / 2 ** 30).toFixed(1)} GiB, Node ${env.node}, Docker ${env.docker ?? 'n/a'}, load average at start ${env.loadAverage.join(' ')}\n`;
  process.stdout.write(`\n${header}\n${formatTable(rows)}\n\n`);

  const resultsDir = fileURLToPath(new URL('./results/', import.meta.url));
  await mkdir(resultsDir, { recursive: true });
  const file = join(resultsDir, 'latest.json');
  await writeFile(file, `${JSON.stringify({ environment: env, mode: options.quick ? 'quick' : 'full', seconds: Math.round(seconds), rows }, null, 2)}\n`);
  say(`figures written to ${file}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
