/**
 * Starts, watches and finishes the run-once containers of scheduled bots (DESIGN §5, §8).
 *
 * A run container's daemon exits only after its final sync (state and every log line, see
 * src/daemon/supervise.ts: the done file is written, then the sync finishes, then the
 * process exits with the bot's exit code), so the container having exited is what "done"
 * means here: the record is written first, then the container is removed. A run that
 * outlives `maxRuntimeSeconds` is stopped (SIGTERM, the grace period, SIGKILL) and marked
 * `timed-out`; its daemon still does the final sync on SIGTERM.
 */
import type { Bot } from '../../domain/bot.js';
import { errorMessage, NotFoundError } from '../../domain/errors.js';
import { objectKeys } from '../../domain/object-keys.js';
import type { Run, RunStatus, RunTrigger } from '../../domain/run.js';
import { specHash } from '../../domain/spec-hash.js';
import type { ObjectStore } from '../../ports/objects.js';
import type { ActualContainer, ContainerRuntime } from '../../ports/runtime.js';
import type { DesiredStateStore } from '../../ports/store.js';
import type { Clock } from '../clock.js';
import { buildContainerSpec, FINAL_SYNC_SECONDS, type DaemonSettings } from '../container-spec.js';
import type { Logger } from '../logger.js';

/** Lines of output kept in a Run record. */
export const OUTPUT_TAIL_LINES = 20;

export interface RunRequest {
  readonly runId: string;
  readonly trigger: RunTrigger;
  readonly scheduledFor: Date;
  /**
   * A warm start: the container starts now, the bot at this instant (the daemon waits), so
   * Docker's start and the daemon's init are done when the slot comes.
   */
  readonly startAt?: Date;
}

export interface RunExecutorOptions {
  readonly store: DesiredStateStore;
  readonly objects: ObjectStore;
  readonly runtime: ContainerRuntime;
  readonly clock: Clock;
  readonly log: Logger;
  readonly image: string;
  readonly networkMode: string;
  readonly graceSeconds: number;
  readonly daemon: DaemonSettings;
  /** Runs kept per bot in the store; older ones are pruned after each run. */
  readonly historyLimit: number;
  /** Aborted when the service stops: watchers let go, containers keep running. */
  readonly signal: AbortSignal;
  /** Called whenever a run this process watches has finished (re-arm, tests). */
  readonly onFinished?: (run: Run) => void;
}

/** Container states in which a run is still going. */
const ACTIVE_STATES = new Set(['created', 'running', 'restarting', 'paused']);

export function isActive(container: ActualContainer): boolean {
  return ACTIVE_STATES.has(container.state);
}

/** A warm-started run begins when its bot does (maxRuntimeSeconds counts from there). */
function runStartedAt(containerStartedAt: string, startAt: Date | undefined): string {
  return startAt && startAt.getTime() > Date.parse(containerStartedAt) ? startAt.toISOString() : containerStartedAt;
}

export class RunExecutor {
  /** Runs this process is watching, by `<botId>/<runId>`. */
  private readonly watching = new Map<string, Promise<Run | undefined>>();
  /** Runs stopped by overlap `replace`: their status says so. */
  private readonly replaced = new Map<string, string>();

  constructor(private readonly o: RunExecutorOptions) {}

  /** Active run containers of one bot, as the runtime reports them (every process's runs). */
  async activeRuns(botId: string): Promise<ActualContainer[]> {
    const list = await this.o.runtime.list({ kind: 'scheduled', botId }, this.o.signal);
    return list.filter((c) => c.runId !== undefined && isActive(c));
  }

  /** Records a slot that did not run (overlap `skip`). */
  async skip(bot: Bot, request: RunRequest, reason: string): Promise<Run | null> {
    const now = this.o.clock.now().toISOString();
    const run: Run = {
      runId: request.runId,
      botId: bot.id,
      trigger: request.trigger,
      scheduledFor: request.scheduledFor.toISOString(),
      createdAt: now,
      finishedAt: now,
      status: 'skipped',
      reason,
    };
    if (!(await this.o.store.createRun(run, this.o.signal))) return null;
    this.o.log.info({ botId: bot.id, runId: run.runId, reason }, 'scheduled run skipped');
    await this.publish(run);
    return run;
  }

  /** Records a run that could not even be attempted (runtime unreachable). Null when another scheduler has it. */
  async failBeforeStart(bot: Bot, request: RunRequest, reason: string): Promise<Run | null> {
    const now = this.o.clock.now().toISOString();
    const run: Run = {
      runId: request.runId,
      botId: bot.id,
      trigger: request.trigger,
      scheduledFor: request.scheduledFor.toISOString(),
      createdAt: now,
      finishedAt: now,
      status: 'failed',
      reason,
    };
    if (!(await this.o.store.createRun(run, this.o.signal))) return null;
    await this.publish(run);
    return run;
  }

  /**
   * Creates the run record (create-once: null when another scheduler already has this run),
   * starts the container and watches it. Resolves once the container has started (or failed to).
   */
  async launch(bot: Bot, request: RunRequest): Promise<Run | null> {
    const name = this.o.runtime.containerName(bot.id, request.runId);
    const created: Run = {
      runId: request.runId,
      botId: bot.id,
      trigger: request.trigger,
      scheduledFor: request.scheduledFor.toISOString(),
      createdAt: this.o.clock.now().toISOString(),
      status: 'running',
      containerName: name,
    };
    if (!(await this.o.store.createRun(created, this.o.signal))) return null;
    let container: ActualContainer;
    try {
      const objectAccess = await this.o.objects.daemonAccess(bot.id, this.o.runtime.objectAccess);
      const spec = buildContainerSpec(bot, {
        name,
        image: this.o.image,
        specHash: specHash(bot, this.o.image),
        graceSeconds: this.o.graceSeconds,
        networkMode: this.o.networkMode,
        objectAccess,
        daemon: this.o.daemon,
        runId: request.runId,
        ...(request.startAt ? { startAt: request.startAt } : {}),
      });
      container = await this.o.runtime.start(spec, this.o.signal);
    } catch (err) {
      const failed: Run = { ...created, status: 'failed', finishedAt: this.o.clock.now().toISOString(), reason: `could not start: ${errorMessage(err)}` };
      this.o.log.warn({ err, botId: bot.id, runId: request.runId }, 'scheduled run could not start');
      await this.o.store.writeRun(failed, this.o.signal);
      await this.publish(failed);
      // A container may exist although start failed half-way (created, not started).
      await this.removeByName(bot.id, request.runId);
      return failed;
    }
    const started: Run = { ...created, startedAt: runStartedAt(container.startedAt ?? this.o.clock.now().toISOString(), request.startAt) };
    await this.o.store.writeRun(started, this.o.signal);
    this.o.log.info({ botId: bot.id, runId: request.runId, trigger: request.trigger, scheduledFor: started.scheduledFor }, 'scheduled run started');
    this.follow(started, container, bot.schedule?.maxRuntimeSeconds);
    return started;
  }

  /**
   * Watches a run container until it exits, then records and removes it. Also used for
   * containers found at start-up (adoption). Idempotent per run.
   */
  follow(run: Run, container: ActualContainer, maxRuntimeSeconds: number | undefined): Promise<Run | undefined> {
    const key = `${run.botId}/${run.runId}`;
    let watch = this.watching.get(key);
    if (!watch) {
      watch = this.watch(run, container, maxRuntimeSeconds)
        .catch((err: unknown) => {
          if (!this.o.signal.aborted) this.o.log.error({ err, botId: run.botId, runId: run.runId }, 'watching a scheduled run failed');
          return undefined;
        })
        .finally(() => this.watching.delete(key));
      this.watching.set(key, watch);
    }
    return watch;
  }

  isWatching(botId: string, runId: string): boolean {
    return this.watching.has(`${botId}/${runId}`);
  }

  /** Overlap `replace`: stops a running run; its record says which run replaced it. */
  async replace(container: ActualContainer, byRunId: string): Promise<void> {
    this.replaced.set(`${container.botId}/${container.runId}`, byRunId);
    await this.o.runtime.stop(container.id, { graceSeconds: this.o.graceSeconds + FINAL_SYNC_SECONDS }, this.o.signal);
  }

  /** Resolves once every run watched so far has been recorded (or let go). */
  async idle(): Promise<void> {
    while (this.watching.size > 0) await Promise.allSettled([...this.watching.values()]);
  }

  private async watch(run: Run, container: ActualContainer, maxRuntimeSeconds: number | undefined): Promise<Run | undefined> {
    let timedOut = false;
    let cancelTimeout = (): void => undefined;
    const startedMs = Date.parse(run.startedAt ?? container.startedAt ?? run.createdAt);
    if (maxRuntimeSeconds !== undefined) {
      const leftMs = startedMs + maxRuntimeSeconds * 1000 - this.o.clock.now().getTime();
      cancelTimeout = this.o.clock.setTimeout(() => {
        timedOut = true;
        this.o.log.warn({ botId: run.botId, runId: run.runId, maxRuntimeSeconds }, 'scheduled run exceeded its maximum runtime: stopping it');
        this.o.runtime
          .stop(container.id, { graceSeconds: this.o.graceSeconds + FINAL_SYNC_SECONDS }, this.o.signal)
          .catch((err: unknown) => this.o.log.warn({ err, runId: run.runId }, 'stopping a timed-out run failed'));
      }, leftMs);
    }
    let exit: { code: number } | 'gone';
    try {
      exit = await this.waitForExit(container.id);
    } finally {
      cancelTimeout();
    }
    if (this.o.signal.aborted) return undefined;
    // Another scheduler watching the same run (adoption) may have been the one to stop it:
    // a run that ended at or past its limit timed out, whoever stopped it.
    const pastLimit = maxRuntimeSeconds !== undefined && this.o.clock.now().getTime() - startedMs >= maxRuntimeSeconds * 1000;
    return this.finish(run, container, exit, timedOut || (pastLimit && exit !== 'gone' && exit.code !== 0));
  }

  /**
   * When the container exited, as the runtime says: a run that ended while no scheduler ran
   * ended then, not when a scheduler came back and noticed. Now, if the runtime cannot say.
   */
  private async exitedAt(run: Run, containerId: string): Promise<string> {
    const now = this.o.clock.now();
    const listed = await this.o.runtime.list({ kind: 'scheduled', botId: run.botId }, this.o.signal).catch(() => []);
    const reported = Date.parse(listed.find((c) => c.id === containerId)?.finishedAt ?? '');
    const started = Date.parse(run.startedAt ?? run.createdAt);
    const plausible = Number.isFinite(reported) && reported <= now.getTime() && !(reported < started);
    return plausible ? new Date(reported).toISOString() : now.toISOString();
  }

  private async waitForExit(containerId: string): Promise<{ code: number } | 'gone'> {
    for (let attempt = 0; ; attempt++) {
      try {
        return { code: await this.o.runtime.wait(containerId, this.o.signal) };
      } catch (err) {
        if (err instanceof NotFoundError) return 'gone';
        if (this.o.signal.aborted) throw err;
        // The engine restarting or a dropped long request: look again after a pause.
        this.o.log.warn({ err, containerId, attempt }, 'waiting for a scheduled run failed; retrying');
        await new Promise<void>((resolve) => this.o.clock.setTimeout(resolve, Math.min(30_000, 500 * 2 ** Math.min(attempt, 6))));
        if (this.o.signal.aborted) throw err;
      }
    }
  }

  private async finish(run: Run, container: ActualContainer, exit: { code: number } | 'gone', timedOut: boolean): Promise<Run> {
    const key = `${run.botId}/${run.runId}`;
    const replacedBy = this.replaced.get(key);
    this.replaced.delete(key);
    const outputTail = exit === 'gone' ? undefined : await this.tail(container.id);
    const status: RunStatus = exit === 'gone' ? 'lost' : timedOut ? 'timed-out' : exit.code === 0 ? 'succeeded' : 'failed';
    const finished: Run = {
      ...run,
      status,
      finishedAt: exit === 'gone' ? this.o.clock.now().toISOString() : await this.exitedAt(run, container.id),
      ...(exit === 'gone' ? { reason: 'the container disappeared before it was seen to exit' } : { exitCode: exit.code }),
      ...(outputTail ? { outputTail } : {}),
      ...(timedOut ? { reason: 'exceeded maxRuntimeSeconds: stopped' } : {}),
      ...(replacedBy ? { reason: `stopped by overlap policy replace: run ${replacedBy} replaced it` } : {}),
    };
    if (!(await this.o.store.getBot(run.botId, this.o.signal))) {
      // The bot was removed: its history goes with it (`berth rm` waits for this before deleting its objects).
      if (exit !== 'gone') await this.o.runtime.remove(container.id, this.o.signal);
      await this.o.store.pruneRuns(run.botId, 0, this.o.signal);
      this.o.log.info({ botId: run.botId, runId: run.runId }, 'run of a removed bot ended');
      return finished;
    }
    // Another scheduler may have followed the same container (adoption): its final record stands.
    const stored = await this.o.store.getRun(run.botId, run.runId, this.o.signal);
    const record = stored && stored.status !== 'running' ? stored : finished;
    if (record === finished) await this.o.store.writeRun(finished, this.o.signal);
    await this.publish(record);
    // Only now, with the record written and the daemon's final sync done (it exited), the container goes.
    if (exit !== 'gone') await this.o.runtime.remove(container.id, this.o.signal);
    this.o.log.info({ botId: run.botId, runId: run.runId, status: record.status, exitCode: record.exitCode }, 'scheduled run finished');
    await this.o.store.pruneRuns(run.botId, this.o.historyLimit, this.o.signal).catch((err: unknown) => {
      this.o.log.warn({ err, botId: run.botId }, 'pruning run history failed');
    });
    this.o.onFinished?.(record);
    return record;
  }

  private async tail(containerId: string): Promise<string[] | undefined> {
    try {
      return (await this.o.runtime.tail(containerId, OUTPUT_TAIL_LINES, this.o.signal)).slice(-OUTPUT_TAIL_LINES);
    } catch (err) {
      this.o.log.warn({ err, containerId }, 'reading the output of a scheduled run failed');
      return undefined;
    }
  }

  /** `runs/<botId>/<runId>.json`; a failure here never loses the store's record. */
  private async publish(run: Run): Promise<void> {
    try {
      const body = Buffer.from(`${JSON.stringify(run, null, 2)}\n`);
      await this.o.objects.put(objectKeys.run(run.botId, run.runId), body, body.length, this.o.signal);
    } catch (err) {
      this.o.log.warn({ err, botId: run.botId, runId: run.runId }, 'writing the run record to the object store failed');
    }
  }

  private async removeByName(botId: string, runId: string): Promise<void> {
    try {
      const left = (await this.o.runtime.list({ kind: 'scheduled', botId }, this.o.signal)).filter((c) => c.runId === runId);
      for (const c of left) await this.o.runtime.remove(c.id, this.o.signal);
    } catch (err) {
      this.o.log.warn({ err, botId, runId }, 'removing a run container that failed to start failed');
    }
  }
}
