/**
 * The process runtime's shim (modelled on containerd's shim): one detached process per
 * "container", in its own session, so it outlives `berth serve`. It runs the container's
 * command in a process group of its own, copies its output into the rotating log, restarts
 * it with back-off under restart policy `always`, and records every change in status.json.
 *
 *   node shim.js <container dir>
 *
 * SIGTERM is a stop request (grace period from stop.json): no more restarts, SIGTERM to the
 * child, SIGKILL to its whole process group after the grace period. The shim sends the
 * SIGTERM to the child only, not to the group — as Docker's init (tini) does — so the
 * daemon's background sync is not terminated before the bot's final state is saved; the
 * SIGKILL after the grace period and the clean-up after every exit go to the whole group,
 * so nothing of a "container" outlives it.
 *
 * Only Node built-ins and sibling modules that use only them: this is one Node process per
 * bot, so it must stay small.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { nextRestartDelay } from './backoff.js';
import { containerPaths, readJson, writeStatus, type LaunchPlan, type ShimStatus, type StopRequest } from './layout.js';
import { exitCodeOf, processIdentity, signalGroup, signalProcess } from './proc.js';
import { RotatingLog } from './rotating-log.js';

/** How long the shim waits for the child's pipes to drain before it writes its final status. */
const DRAIN_MS = 1000;

class Shim {
  private readonly paths;
  private readonly plan: LaunchPlan;
  private readonly log: RotatingLog;
  private status: ShimStatus;
  private child: ChildProcess | undefined;
  private childStartedAtMs = 0;
  private childExited = false;
  private lastDelayMs: number | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private killDeadline = Infinity;
  private stopping = false;
  private logFailing = false;

  constructor(dir: string) {
    this.paths = containerPaths(path.dirname(dir), path.basename(dir));
    const plan = readJson<LaunchPlan>(this.paths.launch);
    const status = readJson<ShimStatus>(this.paths.status);
    if (plan === undefined || status === undefined) throw new Error(`no launch plan or status in ${dir}`);
    this.plan = plan;
    this.log = new RotatingLog(this.paths.log, plan.log.maxBytes, plan.log.maxFiles);
    this.status = { ...status, shimPid: process.pid, shimIdentity: processIdentity(process.pid) };
  }

  run(): void {
    process.on('SIGTERM', () => this.requestStop());
    // Not ours to react to: a terminal hang-up or Ctrl-C aimed at `berth serve`.
    process.on('SIGHUP', () => undefined);
    process.on('SIGINT', () => undefined);
    this.startChild();
  }

  private startChild(): void {
    const [command, ...args] = this.plan.argv;
    this.childExited = false;
    this.childStartedAtMs = Date.now();
    // detached: the child leads a new session and process group, so the whole "container"
    // can be signalled as one group, and a Ctrl-C in the shim's terminal never reaches it.
    const child = spawn(command ?? 'false', args, {
      cwd: this.plan.cwd,
      env: { ...this.plan.env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout?.on('data', (chunk: Buffer) => this.output(chunk));
    child.stderr?.on('data', (chunk: Buffer) => this.output(chunk));
    child.on('error', (err) => {
      if (child.pid !== undefined) return;
      this.output(`berth: cannot start ${JSON.stringify(command)}: ${err.message}\n`);
      this.onChildExit(child, 127, null);
    });
    child.on('exit', (code, signal) => this.onChildExit(child, code, signal));
    if (child.pid === undefined) return;
    this.setStatus({
      state: 'running',
      childPid: child.pid,
      childIdentity: processIdentity(child.pid),
      startedAt: new Date(this.childStartedAtMs).toISOString(),
    });
  }

  private onChildExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.child || this.childExited) return;
    this.childExited = true;
    clearTimeout(this.killTimer);
    // Like a container whose init exited: nothing of it may linger (e.g. a background sync).
    if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    const exit = { exitCode: exitCodeOf(code, signal), finishedAt: new Date().toISOString() };
    if (this.stopping || this.plan.restartPolicy === 'no') {
      this.finish(child, exit);
      return;
    }
    const delay = nextRestartDelay(this.lastDelayMs, Date.now() - this.childStartedAtMs, this.plan.backoff);
    this.lastDelayMs = delay;
    this.setStatus({ ...exit, state: 'restarting' });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.status = { ...this.status, restartCount: this.status.restartCount + 1 };
      this.startChild();
    }, delay);
  }

  private requestStop(): void {
    const graceMs = this.graceMs();
    if (this.stopping) {
      // A second stop (e.g. remove during a stop) may shorten the wait.
      if (!this.childExited && this.child?.pid !== undefined) this.armKill(this.child.pid, graceMs);
      return;
    }
    this.stopping = true;
    this.setStatus({ stopRequested: true });
    if (this.restartTimer !== undefined) {
      clearTimeout(this.restartTimer);
      this.restartTimer = undefined;
      this.finish(undefined, {});
      return;
    }
    const pid = this.child?.pid;
    if (pid === undefined || this.childExited) return;
    if (graceMs > 0) signalProcess(pid, 'SIGTERM');
    this.armKill(pid, graceMs);
  }

  /** The earliest deadline wins: a later stop may shorten the grace period, never extend it. */
  private armKill(pid: number, graceMs: number): void {
    const deadline = Date.now() + graceMs;
    if (this.killTimer !== undefined && deadline >= this.killDeadline) return;
    clearTimeout(this.killTimer);
    this.killDeadline = deadline;
    this.killTimer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
  }

  private graceMs(): number {
    let seconds = this.plan.stopGraceSeconds;
    try {
      seconds = readJson<StopRequest>(this.paths.stopRequest)?.graceSeconds ?? seconds;
    } catch (err) {
      this.diagnose(`unreadable stop request: ${(err as Error).message}`);
    }
    return Math.max(0, seconds) * 1000;
  }

  /** Final status once the child's output is in the log, then the shim's own exit. */
  private finish(child: ChildProcess | undefined, exit: Partial<ShimStatus>): void {
    const done = (): void => {
      this.setStatus({ ...exit, state: 'exited' });
      try {
        this.log.close();
      } catch {
        // nothing left to lose
      }
      process.exit(0);
    };
    if (child === undefined) return done();
    const drained = Promise.all(
      [child.stdout, child.stderr].map(
        (stream) => new Promise<void>((resolve) => (stream === null || stream.closed ? resolve() : stream.once('close', () => resolve()))),
      ),
    );
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, DRAIN_MS).unref());
    void Promise.race([drained, timeout]).then(done);
  }

  /** A full disk loses output, never the bot: the shim must not die over its log. */
  private output(chunk: Buffer | string): void {
    try {
      this.log.write(chunk);
      this.logFailing = false;
    } catch (err) {
      if (!this.logFailing) this.diagnose(`cannot write output.log: ${(err as Error).message}`);
      this.logFailing = true;
    }
  }

  private setStatus(change: Partial<ShimStatus>): void {
    this.status = { ...this.status, ...change };
    try {
      writeStatus(this.paths, this.status);
    } catch (err) {
      this.diagnose(`cannot write status: ${(err as Error).message}`);
    }
  }

  diagnose(message: string): void {
    try {
      appendFileSync(this.paths.shimLog, `${new Date().toISOString()} ${message}\n`, { mode: 0o600 });
    } catch {
      // The directory is gone (removed): nobody is left to read it.
    }
  }

  /** Last resort on a bug in the shim: no orphaned "container" processes, a visible reason. */
  crash(err: unknown): never {
    this.diagnose(`shim crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    if (this.child?.pid !== undefined) signalGroup(this.child.pid, 'SIGKILL');
    this.setStatus({ state: 'exited', error: `shim crashed: ${String(err)}`, finishedAt: new Date().toISOString() });
    process.exit(1);
  }
}

function main(): void {
  const dir = process.argv[2];
  if (dir === undefined) {
    process.stderr.write('usage: shim <container dir>\n');
    process.exit(2);
  }
  const shim = new Shim(path.resolve(dir));
  process.on('uncaughtException', (err) => shim.crash(err));
  shim.run();
}

main();
