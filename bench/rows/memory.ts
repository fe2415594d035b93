/**
 * Row 5: a fleet of 100 real, tiny Python bots deployed through the API of `berth serve`
 * (they print one line and sleep). Measured: RSS of the `berth serve` process once they all
 * run and one full pass later, and the anonymous memory (Private_Dirty) of every bot's
 * in-container daemon, found on the host below the container's init process.
 * The fleet then serves row 2 (reconcile pass over 100 running bot containers).
 */
import { idlePackage } from '../lib/packages.js';
import { findDescendant, peakRssBytes, privateDirtyBytes, processTable, rssBytes, type ProcEntry } from '../lib/proc.js';
import { notMeasured, verdict, type Row } from '../lib/report.js';
import { botStates, deployPackage } from '../lib/serve.js';
import { max, median, mib, min } from '../lib/stats.js';
import { containerTimes } from '../lib/docker.js';
import { waitUntil, type DockerBench } from './context.js';
import { containerNameFor } from '../../src/domain/container-name.js';

const DAEMON_GOAL = 16 * 1024 * 1024;
const SERVE_GOAL = 150 * 1024 * 1024;
export const DAEMON_ROW = { key: 'daemon-memory', title: '5a. daemon anonymous memory, idle bot', goal: `≤ ${mib(DAEMON_GOAL)}` };
export const SERVE_ROW = { key: 'serve-rss', title: '5b. berth serve RSS, 100 bots', goal: `≤ ${mib(SERVE_GOAL)}` };

export interface Fleet {
  readonly ids: readonly string[];
  /** From the first upload to every bot `running`. */
  readonly toAllRunningMs: number;
}

export interface FleetResult {
  readonly fleet?: Fleet;
  readonly rows: readonly Row[];
}

async function deployFleet(ctx: DockerBench, count: number): Promise<string[]> {
  const pkg = await idlePackage();
  const ids = Array.from({ length: count }, (_, i) => `bench-fleet-${ctx.tag}-${String(i).padStart(3, '0')}`);
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      await deployPackage(ctx.serve.url, id, pkg, { runtime: 'python3.11', entrypoint: 'main.py' });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return ids;
}

/**
 * The long-running daemon: bootstrap.sh execs `berth-daemon.cjs start` (init, then run, in one
 * process); `run` and the `.mjs` bundle are still matched for a container whose image predates them. The init and
 * sync subcommands never supervise a bot, so they are not what the goal is about.
 */
const DAEMON_COMMAND = /\/berth-daemon\.[cm]js (?:start|run)$/;

interface DaemonMemory {
  readonly bytes: number[];
  readonly missing: number;
  /** Distinct command lines measured, to show which process the figure is of. */
  readonly commands: ReadonlySet<string>;
  /** What runs below one init when no daemon was found there, to make a miss explainable. */
  readonly sampleTree?: string;
}

/** Every process below `root`, as `pid←ppid cmdline`. */
function describeTree(table: readonly ProcEntry[], root: number): string {
  const below = (pid: number): ProcEntry[] => table.filter((e) => e.ppid === pid).flatMap((e) => [e, ...below(e.pid)]);
  return below(root).map((e) => `${e.pid}←${e.ppid} ${e.cmdline}`).join('; ') || 'no processes';
}

async function daemonMemory(ctx: DockerBench, ids: readonly string[]): Promise<DaemonMemory> {
  const initPids = await Promise.all(ids.map((id) => containerTimes(ctx.docker, containerNameFor(ctx.instance, id)).then((t) => t.pid)));
  const table = await processTable();
  const bytes: number[] = [];
  const commands = new Set<string>();
  let missing = 0;
  let sampleTree: string | undefined;
  for (const initPid of initPids) {
    const daemon = initPid > 0 ? findDescendant(table, initPid, (cmd) => DAEMON_COMMAND.test(cmd)) : undefined;
    const value = daemon ? await privateDirtyBytes(daemon.pid).catch(() => undefined) : undefined;
    if (value === undefined) {
      missing++;
      if (initPid > 0) sampleTree ??= describeTree(table, initPid);
      continue;
    }
    bytes.push(value);
    commands.add(daemon!.cmdline);
  }
  return { bytes, missing, commands, ...(sampleTree === undefined ? {} : { sampleTree }) };
}

export async function fleetRows(ctx: DockerBench, count: number, intervalMs: number): Promise<FleetResult> {
  const rssIdle = await rssBytes(ctx.serve.pid);
  ctx.say(`memory: deploying ${count} tiny Python bots through the API and waiting until all run`);
  const began = Date.now();
  let ids: string[];
  let rssMaxWhileStarting = rssIdle;
  try {
    ids = await deployFleet(ctx, count);
    await waitUntil(
      `all ${count} bots running`,
      async () => {
        rssMaxWhileStarting = Math.max(rssMaxWhileStarting, await rssBytes(ctx.serve.pid));
        const states = await botStates(ctx.serve.url);
        return ids.every((id) => states.get(id) === 'running') ? true : undefined;
      },
      300_000,
      1000,
    );
  } catch (err) {
    const reason = `the fleet of ${count} bots did not come up: ${(err as Error).message}`;
    return { rows: [notMeasured(DAEMON_ROW.key, DAEMON_ROW.title, DAEMON_ROW.goal, reason), notMeasured(SERVE_ROW.key, SERVE_ROW.title, SERVE_ROW.goal, reason)] };
  }
  const toAllRunningMs = Date.now() - began;
  const rssAllRunning = await rssBytes(ctx.serve.pid);
  ctx.say(`memory: all ${count} running after ${(toAllRunningMs / 1000).toFixed(1)} s; waiting for the next full pass (every ${intervalMs / 1000} s)`);
  await ctx.serve.untilPasses(ctx.serve.passCount + 1, intervalMs + 60_000);
  const rssAfterPass = await rssBytes(ctx.serve.pid);
  const peak = await peakRssBytes(ctx.serve.pid);
  const servePeakSteady = Math.max(rssAllRunning, rssAfterPass);

  const daemons = await daemonMemory(ctx, ids);
  const fleet: Fleet = { ids, toAllRunningMs };
  const daemonMax = max(daemons.bytes);
  const daemonRow: Row =
    daemons.bytes.length === 0
      ? notMeasured(DAEMON_ROW.key, DAEMON_ROW.title, DAEMON_ROW.goal, `no \`berth-daemon.cjs start|run\` process found below the containers’ init processes (one of them: ${daemons.sampleTree ?? 'no init pid'})`)
      : {
          ...DAEMON_ROW,
          result: `median ${mib(median(daemons.bytes))}, max ${mib(daemonMax)} (n=${daemons.bytes.length})`,
          sideBySide: '–',
          verdict: verdict(daemonMax <= DAEMON_GOAL),
          details: [
            `Private_Dirty from /proc/<pid>/smaps_rollup of the daemon (the one Node process that did init and now supervises the bot, syncs state and ships logs) in each of the ${count} idle bot containers, ` +
              `found on the host below the container's docker-init (docker inspect State.Pid); min ${mib(min(daemons.bytes))}. The verdict uses the max.` +
              (daemons.missing > 0 ? ` ${daemons.missing} daemons could not be read (one tree: ${daemons.sampleTree ?? '?'}).` : ''),
            `measured command line: ${[...daemons.commands].join(' | ')}`,
          ],
          figures: {
            containers: count,
            measured: daemons.bytes.length,
            missing: daemons.missing,
            medianBytes: median(daemons.bytes),
            maxBytes: daemonMax,
            minBytes: min(daemons.bytes),
            goalBytes: DAEMON_GOAL,
            commands: [...daemons.commands],
          },
        };
  const serveRow: Row = {
    ...SERVE_ROW,
    result: `${mib(rssAllRunning)} all running, ${mib(rssAfterPass)} one pass later`,
    sideBySide: `${mib(rssIdle)} with 0 bots`,
    verdict: verdict(servePeakSteady <= SERVE_GOAL),
    details: [
      `VmRSS of the \`berth serve\` process (API + BotService, Docker runtime, SQLite, fs objects, in-process bus; --log-level debug) managing ${count} running bots, ` +
        `deployed through its API (${count} uploads + PUTs, 8 at a time); all running ${(toAllRunningMs / 1000).toFixed(1)} s after the first upload. ` +
        `Highest RSS sampled while they started: ${mib(rssMaxWhileStarting)}; VmHWM (lifetime peak, includes the earlier rows' uploads): ${mib(peak)}.`,
    ],
    figures: {
      bots: count,
      rssIdleBytes: rssIdle,
      rssAllRunningBytes: rssAllRunning,
      rssAfterPassBytes: rssAfterPass,
      rssMaxWhileStartingBytes: rssMaxWhileStarting,
      vmHwmBytes: peak,
      toAllRunningMs,
      goalBytes: SERVE_GOAL,
    },
  };
  return { fleet, rows: [daemonRow, serveRow] };
}
