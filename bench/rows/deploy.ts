/**
 * Row 3: deploy of a ~1 MB package until the bot's first line appears in the container's
 * output, against a bare `docker run --rm` of the same image, alternating, same run.
 *
 * Times come from one clock: the host's wall clock for the requests, the Engine's
 * timestamps (same host) for container creation, start and every output line, so the
 * 50 ms polling of the log does not enter the figures.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CAPABILITIES, LOG_CONFIG } from '../../src/adapters/runtime/docker/index.js';
import { DEFAULT_RESOURCES } from '../../src/domain/bot.js';
import { CONTAINER_PATHS } from '../../src/domain/daemon-contract.js';
import { LABELS } from '../../src/ports/runtime.js';
import { containerTimes, timeCommand, timedLogLines, type TimedLine } from '../lib/docker.js';
import { DEPLOY_MARKER, markerPackage } from '../lib/packages.js';
import { verdict, type Row } from '../lib/report.js';
import { BERTH_BIN, deleteBot, deployPackage } from '../lib/serve.js';
import { median, ms, ratio, round } from '../lib/stats.js';
import { waitUntil, type DockerBench } from './context.js';
import { containerNameFor } from '../../src/domain/container-name.js';

const GOAL_RATIO = 1.5;

interface DeployTiming {
  readonly totalMs: number;
  readonly segments: Record<Segment, number>;
}

const SEGMENTS = {
  upload: 'upload 1 MB package (POST, inspect, store)',
  put: 'PUT the bot (validate, write, publish)',
  toCreated: 'PUT answered → container created (change event → reconcile → create)',
  toStarted: 'container created → started (Engine)',
  init: 'started → init done (`berth-daemon start`: Node start, sha256, extract, state restore)',
  daemonRun: 'init done → daemon starts the bot (same process: init log stored, state watch, spawn)',
  python: 'daemon starts the bot → bot prints its first line (Python start, relay)',
} as const;
type Segment = keyof typeof SEGMENTS;

function signedMs(value: number): string {
  return `${value >= 0 ? '+' : '−'}${ms(Math.abs(value))}`;
}

function lineAt(lines: readonly TimedLine[], pattern: RegExp): number | undefined {
  return lines.find((l) => pattern.test(l.text))?.at;
}

async function oneDeploy(ctx: DockerBench, pkg: Buffer, label: string): Promise<DeployTiming> {
  const id = `bench-deploy-${ctx.tag}-${label}`;
  const name = containerNameFor(ctx.instance, id);
  const began = Date.now();
  const { uploadedAt } = await deployPackage(ctx.serve.url, id, pkg, { runtime: 'python3.11', entrypoint: 'main.py' });
  const putAt = Date.now();
  const lines = await waitUntil(
    `${DEPLOY_MARKER} in the output of ${name}`,
    async () => {
      const all = await timedLogLines(ctx.docker, name);
      return all.some((l) => l.text.includes(DEPLOY_MARKER)) ? all : undefined;
    },
    90_000,
    50,
  );
  const times = await containerTimes(ctx.docker, name);
  await deleteBot(ctx.serve.url, id);
  const marker = lineAt(lines, new RegExp(DEPLOY_MARKER))!;
  const initDone = lineAt(lines, /^\[berth\] init: /);
  const botStarting = lineAt(lines, /^\[berth\] starting the bot/);
  const nan = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? NaN : a - b);
  return {
    totalMs: marker - began,
    segments: {
      upload: uploadedAt - began,
      put: putAt - uploadedAt,
      toCreated: nan(times.createdAt, putAt),
      toStarted: nan(times.startedAt, times.createdAt),
      init: nan(initDone, times.startedAt),
      daemonRun: nan(botStarting, initDone),
      python: nan(marker, botStarting),
    },
  };
}

/**
 * The options a bot container gets besides its image and command (create-options.ts):
 * init, limits, capabilities, log driver, three bind mounts. Not the goal's baseline —
 * it shows what the Engine charges for them.
 */
async function berthShapedOptions(ctx: DockerBench): Promise<string[]> {
  const args = ['--init', '--memory', `${DEFAULT_RESOURCES.memoryMb}m`, '--memory-swap', `${DEFAULT_RESOURCES.memoryMb}m`];
  args.push('--cpus', String(DEFAULT_RESOURCES.cpus), '--pids-limit', String(DEFAULT_RESOURCES.pids), '--security-opt', 'no-new-privileges');
  args.push('--cap-drop', 'ALL', ...CAPABILITIES.flatMap((c) => ['--cap-add', c]), '--log-driver', LOG_CONFIG.Type);
  for (const [k, v] of Object.entries(LOG_CONFIG.Config)) args.push('--log-opt', `${k}=${v}`);
  for (const top of ['code', 'state', 'logs']) {
    const source = join(ctx.dataDir, 'bare-mounts', top);
    await mkdir(source, { recursive: true });
    const readonly = top === 'code' ? ',readonly' : '';
    args.push('--mount', `type=bind,src=${source},dst=${CONTAINER_PATHS.objectsDir}/${top}/bare${readonly}`);
  }
  return args;
}

async function oneBare(ctx: DockerBench, options: readonly string[] = []): Promise<number> {
  // No `true` binary in the image: the shell's builtin. The label only lets cleanup find it after Ctrl-C.
  const run = await timeCommand('docker', ['run', '--rm', '--network', 'none', '--label', `${LABELS.instance}=${ctx.instance}`, ...options, ctx.image, 'sh', '-c', 'true']);
  if (run.code !== 0) throw new Error(`docker run failed (${run.code}): ${run.stderr.trim()}`);
  return run.ms;
}

export async function deployRow(ctx: DockerBench, runs: number): Promise<Row> {
  const pkg = await markerPackage();
  ctx.say(`deploy: ${runs} deploys of a ${(pkg.length / 1e6).toFixed(2)} MB package alternating with ${runs} bare docker runs (+1 warm-up each)`);
  const shaped = await berthShapedOptions(ctx);
  await oneBare(ctx);
  await oneBare(ctx, shaped);
  await oneDeploy(ctx, pkg, 'warmup');
  const deploys: DeployTiming[] = [];
  const bares: number[] = [];
  const shapedBares: number[] = [];
  for (let i = 0; i < runs; i++) {
    if (i % 2 === 0) {
      deploys.push(await oneDeploy(ctx, pkg, String(i)));
      bares.push(await oneBare(ctx));
      shapedBares.push(await oneBare(ctx, shaped));
    } else {
      shapedBares.push(await oneBare(ctx, shaped));
      bares.push(await oneBare(ctx));
      deploys.push(await oneDeploy(ctx, pkg, String(i)));
    }
  }
  const cli = [];
  for (let i = 0; i < 3; i++) cli.push((await timeCommand(process.execPath, [BERTH_BIN, '--help'])).ms);

  const deployMs = median(deploys.map((d) => d.totalMs));
  const bareMs = median(bares);
  const r = deployMs / bareMs;
  const segments = Object.fromEntries(
    (Object.keys(SEGMENTS) as Segment[]).map((s) => [s, median(deploys.map((d) => d.segments[s]))]),
  ) as Record<Segment, number>;
  return {
    key: 'deploy',
    title: '3. deploy 1 MB package → bot running',
    result: `median ${ms(deployMs)} (n=${runs})`,
    sideBySide: `docker run --rm: median ${ms(bareMs)} (n=${runs}); ratio ${ratio(r)}`,
    goal: `ratio ≤ ${GOAL_RATIO}`,
    verdict: verdict(r <= GOAL_RATIO),
    details: [
      `deploy = from the start of the package upload to the API (the two requests \`berth deploy\` makes) to the bot's first output line in the container log (Engine timestamp); ` +
        `bare = \`docker run --rm --network none <bot image> sh -c true\` from spawn to exit (create, start, exit, remove; the image has no /bin/true). One warm-up of each first, then alternating.`,
      `package: ${(pkg.length / 1e6).toFixed(2)} MB tar.gz (main.py + 1 MiB of random bytes); the bot is Python, its first statement prints the marker.`,
      `where the deploy time goes (median of each step): ${(Object.keys(SEGMENTS) as Segment[]).map((s) => `${SEGMENTS[s]} ${ms(segments[s])}`).join('; ')}.`,
      `the same bare run with a bot container's options (--init, memory/CPU/pids limits, capabilities, no-new-privileges, log options, 3 bind mounts): median ${ms(median(shapedBares))} (${signedMs(median(shapedBares) - bareMs)} against the bare run) — ` +
        `what the Engine charges for them; the rest of the gap is Berth's: the daemon's Node start and init in the container (\`berth-daemon start\`) and the bot's own interpreter.`,
      `not included: the CLI's own start (\`berth --help\`: median ${ms(median(cli))}) — a deploy typed at the shell pays it on top.`,
      `all deploys: ${deploys.map((d) => Math.round(d.totalMs)).join(', ')} ms; bare runs: ${bares.map((b) => Math.round(b)).join(', ')} ms.`,
    ],
    figures: {
      runs,
      packageBytes: pkg.length,
      deployMedianMs: round(deployMs),
      bareRunMedianMs: round(bareMs),
      ratio: round(r, 2),
      goalRatio: GOAL_RATIO,
      segmentsMedianMs: Object.fromEntries(Object.entries(segments).map(([k, v]) => [k, round(v)])),
      deploysMs: deploys.map((d) => round(d.totalMs)),
      bareRunsMs: bares.map((b) => round(b)),
      bareRunWithBotOptionsMedianMs: round(median(shapedBares)),
      cliStartMedianMs: round(median(cli)),
    },
  };
}
