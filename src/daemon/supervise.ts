/**
 * `berth-daemon run`, the long-running command bootstrap.sh execs after init: one Node
 * process that runs the bot as the unprivileged user and does the sync (state and logs), to
 * keep the daemon's memory small (DESIGN §6.2–6.4).
 *
 * Shutdown: on the bot's exit, or on SIGTERM — forwarded to the bot, which gets the grace
 * period minus a margin to save its state before SIGKILL — the exit code goes to the done
 * file, the final sync stores the state and every remaining log line, and the daemon exits
 * with the bot's exit code. A crashed bot's state is uploaded the same way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { INIT_EXIT, DAEMON_ENV } from '../domain/daemon-contract.js';
import type { ObjectStore } from '../ports/objects.js';
import type { BerthLog } from './berth-log.js';
import { BotLogFile } from './bot-log-file.js';
import { botEnvironment } from './bot-env.js';
import { DaemonFailure } from './failure.js';
import { LineSplitter } from './line-splitter.js';
import type { DaemonSettings } from './settings.js';
import { startSyncParts } from './sync-parts.js';
import { botLogFile, doneFile, entrypointFile } from './work-paths.js';

/** How long after the bot's exit its pipes may stay open (a grandchild holding them). */
const PIPE_DRAIN_MS = 1000;

/** The part of the grace period kept for the final sync: 10 %, at least 1 s, at most 5 s. */
export function botGraceMs(graceSeconds: number): number {
  const graceMs = graceSeconds * 1000;
  const margin = Math.min(5000, Math.max(1000, graceMs / 10));
  return Math.max(500, graceMs - margin);
}

export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal ? osConstants.signals[signal] : undefined;
  return 128 + (n ?? 0);
}

export async function runSupervised(s: DaemonSettings, store: ObjectStore, log: BerthLog): Promise<number> {
  if (s.runtime === undefined) throw new DaemonFailure(INIT_EXIT.badSettings, `${DAEMON_ENV.runtime} is not set`);
  // A closed container log (a dead reader) must not take the daemon down with EPIPE.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);

  // Signals are taken over first: a SIGTERM that arrives while the sync starts up is
  // remembered and passed on as soon as the bot exists.
  const bot: { child?: ChildProcess } = {};
  let termSignal: NodeJS.Signals | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  const forward = (): void => {
    const child = bot.child;
    if (!child || !termSignal) return;
    const graceMs = botGraceMs(s.graceSeconds);
    log.say(`${termSignal} received: passing SIGTERM to the bot, which has ${Math.round(graceMs / 100) / 10} s to exit`);
    child.kill('SIGTERM');
    killTimer = setTimeout(() => {
      log.say(`the bot did not exit within ${Math.round(graceMs / 100) / 10} s: killing it`);
      child.kill('SIGKILL');
    }, graceMs);
  };
  let stopRequested = (): void => undefined;
  const stopped = new Promise<void>((resolve) => (stopRequested = resolve));
  const onTerm = (signal: NodeJS.Signals): void => {
    if (termSignal) return;
    termSignal = signal;
    stopRequested();
    forward();
  };
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onTerm);
  process.on('SIGHUP', () => undefined);

  const parts = await startSyncParts(s, store, log);
  const botLog = new BotLogFile(botLogFile(s.workDir));
  const out = new LineSplitter((line) => parts.shipper.push('out', line));
  const err = new LineSplitter((line) => parts.shipper.push('err', line));

  if (!(await startTimeReached(s.startAt, stopped, log))) {
    log.say(`${termSignal ?? 'SIGTERM'} received before the start time: the bot was not started`);
    await writeFile(doneFile(s.workDir), `${NOT_STARTED_EXIT_CODE}\n`).catch(() => undefined);
    await parts.finish(Date.now() + 10_000);
    return NOT_STARTED_EXIT_CODE;
  }
  const child = spawnBot(s, log);
  bot.child = child;
  forward();
  const terminating = (): boolean => termSignal !== undefined;

  child.stdout?.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk);
    botLog.write(chunk);
    out.write(chunk);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    process.stderr.write(chunk);
    botLog.write(chunk);
    err.write(chunk);
  });

  const exitCode = await waitForExit(child, log);
  if (killTimer) clearTimeout(killTimer);
  await pipesClosed(child);
  out.end();
  err.end();
  botLog.close();
  log.say(`the bot exited with code ${exitCode}`);
  await writeFile(doneFile(s.workDir), `${exitCode}\n`).catch((e: unknown) => log.say(`cannot write the done file: ${(e as Error).message}`));
  const budgetMs = terminating() ? Math.max(10_000, s.graceSeconds * 100) : Math.max(10_000, s.graceSeconds * 1000);
  await parts.finish(Date.now() + budgetMs);
  return exitCode;
}

/** A run stopped while it waited for its start time: SIGTERM's code, as if the bot had got it. */
export const NOT_STARTED_EXIT_CODE = 143;

/**
 * Waits until `startAt` (epoch ms), so a run started ahead of its slot (code, state and
 * entrypoint ready) begins exactly on time. False when a stop signal comes first.
 */
async function startTimeReached(startAt: number | undefined, stopped: Promise<void>, log: BerthLog): Promise<boolean> {
  const waitMs = startAt === undefined ? 0 : startAt - Date.now();
  if (waitMs <= 0) return true;
  log.say(`ready; the bot starts at ${new Date(startAt!).toISOString()} (in ${waitMs} ms)`);
  let timer: NodeJS.Timeout | undefined;
  const due = new Promise<boolean>((resolve) => {
    // Timers follow the monotonic clock: re-check the wall clock so the bot never starts early.
    const check = (): void => {
      const left = startAt! - Date.now();
      if (left <= 0) resolve(true);
      else timer = setTimeout(check, left);
    };
    check();
  });
  try {
    return await Promise.race([due, stopped.then(() => false)]);
  } finally {
    clearTimeout(timer);
  }
}

function spawnBot(s: DaemonSettings, log: BerthLog): ChildProcess {
  const runtime = s.runtime!;
  const wrapper = entrypointFile(s.workDir, runtime);
  const [command, args] = runtime === 'python3.11' ? [s.python, ['-u', wrapper]] : [s.node, [wrapper]];
  const identity: { uid?: number; gid?: number } = {};
  if (s.runAs) {
    if (process.getuid?.() === 0) Object.assign(identity, s.runAs);
    else log.say(`${DAEMON_ENV.runAs} is ${s.runAs.uid}:${s.runAs.gid} but the daemon is not root: the bot runs as the daemon's user`);
  }
  log.say(`starting the bot: ${runtime} ${s.entrypoint ?? ''}`.trim());
  return spawn(command, args, {
    cwd: s.botDir,
    env: botEnvironment(process.env, s),
    stdio: ['ignore', 'pipe', 'pipe'],
    ...identity,
  });
}

function waitForExit(child: ChildProcess, log: BerthLog): Promise<number> {
  return new Promise((resolve) => {
    child.once('error', (e) => {
      log.say(`cannot start the bot: ${e.message}`);
      resolve(127);
    });
    child.once('exit', (code, signal) => resolve(exitCodeOf(code, signal)));
  });
}

function pipesClosed(child: ChildProcess): Promise<void> {
  const closed = (stream: NodeJS.ReadableStream | null): Promise<void> =>
    stream === null || (stream as unknown as { readableEnded: boolean }).readableEnded
      ? Promise.resolve()
      : new Promise((r) => stream.once('close', () => r()));
  return Promise.race([
    Promise.all([closed(child.stdout), closed(child.stderr)]).then(() => undefined),
    new Promise<void>((r) => setTimeout(r, PIPE_DRAIN_MS).unref()),
  ]);
}
