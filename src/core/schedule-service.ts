/**
 * ScheduleService (DESIGN §8): runs scheduled bots in run-once containers at their cron
 * slots, in their time zones.
 *
 * Timing: one timer, armed for the earliest stored next-run instant and re-armed whenever
 * that changes; there is no polling interval for firing. A slow resync (default 60 s) only
 * re-reads the desired state, as a safety net for missed change events.
 *
 * Exactly once: the next due slot lives in the store (ScheduleState). A scheduler fires a
 * slot only after moving `nextRunAt` past it with a conditional update; a second scheduler
 * on the same store loses that update and re-reads. The run id is derived from the slot, so
 * the create-once run record and the unique container name guard the slot a second time.
 *
 * Policies: overlap `skip` (the slot is recorded as skipped) / `allow` / `replace` (the
 * running run is stopped first); catch-up `none` / `latest` within `catchUpDeadlineMs`
 * after the scheduler was down; `maxRuntimeSeconds` (RunExecutor). Manual runs respect the
 * overlap policy. Runs of one bot are decided one at a time in this process.
 *
 * Only containers labelled `berth.kind=scheduled` are listed, stopped or removed here.
 */
import { setMaxListeners } from 'node:events';
import { isValidBotId, type Bot, type Schedule } from '../domain/bot.js';
import { ConflictError, errorMessage, NotFoundError, ValidationError } from '../domain/errors.js';
import { subjects } from '../domain/events.js';
import type { Run, RunTrigger, ScheduleState } from '../domain/run.js';
import type { EventBus, EventSubscription } from '../ports/events.js';
import type { ObjectStore } from '../ports/objects.js';
import type { ActualContainer, ContainerRuntime } from '../ports/runtime.js';
import type { DesiredStateStore } from '../ports/store.js';
import { realClock, type Cancel, type Clock } from './clock.js';
import { DEFAULT_DAEMON_SETTINGS, FINAL_SYNC_SECONDS, type DaemonSettings } from './container-spec.js';
import { latestFireAtOrBefore, nextFireAfter, scheduleBasis } from './cron.js';
import { ServiceStoppedError } from './errors.js';
import { KeyedMutex } from './keyed-mutex.js';
import { silentLogger, type Logger } from './logger.js';
import { isValidRunId, manualRunId, slotRunId } from './schedule/run-ids.js';
import { RunExecutor, type RunRequest } from './schedule/run-executor.js';

export interface ScheduleServiceOptions {
  readonly store: DesiredStateStore;
  readonly objects: ObjectStore;
  readonly events: EventBus;
  readonly runtime: ContainerRuntime;
  readonly image: string;
  readonly networkMode: string;
  readonly clock?: Clock;
  /** Seconds a bot gets to save after SIGTERM (time-outs, replace); default 30. */
  readonly graceSeconds?: number;
  readonly daemon?: Partial<DaemonSettings>;
  readonly logger?: Logger;
  /** Re-reads of the desired state (safety net for missed events); default 60 000 ms. */
  readonly resyncIntervalMs?: number;
  /** A slot fired later than this (scheduler busy or down) counts as missed; default 60 000 ms. */
  readonly lateToleranceMs?: number;
  /** Catch-up `latest` runs a missed slot only if it is at most this old; default 1 h. */
  readonly catchUpDeadlineMs?: number;
  /** Run records kept per bot; default 200. */
  readonly historyLimit?: number;
  /**
   * Warm start: how long before its slot a run's container is started (the daemon starts
   * the bot at the slot itself), so that Docker's start and the daemon's init are not
   * paid after the slot; default 5 000 ms, 0 starts containers at the slot.
   */
  readonly warmStartMs?: number;
}

/** Default of `warmStartMs`: well above Docker's start plus init of a typical package here. */
export const WARM_START_MS = 5_000;

/** Pause before a failed slot (store or runtime down) is tried again. */
const RETRY_MS = 5_000;

/** Longest single timer (Node's setTimeout limit is about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Entry {
  bot: Bot;
  state: ScheduleState | undefined;
}

type Lifecycle = 'new' | 'running' | 'stopping' | 'stopped';

export class ScheduleService {
  private readonly o: Required<Omit<ScheduleServiceOptions, 'daemon' | 'logger' | 'clock'>> & { clock: Clock; log: Logger };
  private readonly executor: RunExecutor;
  private readonly entries = new Map<string, Entry>();
  /** Bots whose due slot is being handled: the timer is not armed for them meanwhile. */
  private readonly firing = new Set<string>();
  /** Bots whose last attempt at a due slot failed (store down…): not before this instant. */
  private readonly retryAt = new Map<string, number>();
  /**
   * Slots that are decided at the slot itself instead of a warm start ahead of it (a run of
   * the bot was still going then: its final state must be stored before the next run restores it).
   */
  private readonly coldSlots = new Map<string, string>();
  private readonly mutex = new KeyedMutex();
  private readonly abort = new AbortController();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly subscriptions: EventSubscription[] = [];
  private lifecycle: Lifecycle = 'new';
  private startPromise: Promise<void> | undefined;
  private stopPromise: Promise<void> | undefined;
  private cancelTimer: Cancel | undefined;
  private timerAt: number | undefined;
  private cancelResync: Cancel | undefined;

  constructor(options: ScheduleServiceOptions) {
    const clock = options.clock ?? realClock;
    this.o = {
      store: options.store,
      objects: options.objects,
      events: options.events,
      runtime: options.runtime,
      image: options.image,
      networkMode: options.networkMode,
      graceSeconds: options.graceSeconds ?? 30,
      resyncIntervalMs: options.resyncIntervalMs ?? 60_000,
      lateToleranceMs: options.lateToleranceMs ?? 60_000,
      catchUpDeadlineMs: options.catchUpDeadlineMs ?? 3_600_000,
      historyLimit: options.historyLimit ?? 200,
      warmStartMs: Math.max(0, options.warmStartMs ?? WARM_START_MS),
      clock,
      log: options.logger ?? silentLogger,
    };
    // Every watched run waits on this signal: many listeners are expected, not a leak.
    setMaxListeners(0, this.abort.signal);
    this.executor = new RunExecutor({
      store: this.o.store,
      objects: this.o.objects,
      runtime: this.o.runtime,
      clock,
      log: this.o.log,
      image: this.o.image,
      networkMode: this.o.networkMode,
      graceSeconds: this.o.graceSeconds,
      daemon: { ...DEFAULT_DAEMON_SETTINGS, ...options.daemon },
      historyLimit: this.o.historyLimit,
      signal: this.abort.signal,
    });
  }

  /** Adopts run containers left by an earlier process, loads every schedule, arms the timer. Idempotent. */
  start(): Promise<void> {
    if (this.isStopping()) return Promise.reject(new ServiceStoppedError('ScheduleService was stopped; create a new one'));
    this.startPromise ??= this.begin();
    return this.startPromise;
  }

  /** Stops firing and lets go of watched runs (their containers keep running and are adopted next time). Idempotent. */
  stop(): Promise<void> {
    this.stopPromise ??= this.end();
    return this.stopPromise;
  }

  /**
   * Manual run ("run now"): respects the bot's overlap policy. Resolves with the Run record
   * as started, skipped or failed to start.
   */
  runNow(botId: string, runId?: string): Promise<Run> {
    if (this.isStopping()) return Promise.reject(new ServiceStoppedError('ScheduleService is stopping'));
    if (runId !== undefined && !isValidRunId(runId)) return Promise.reject(ValidationError.single('runId', 'is not a run id'));
    return this.track(
      this.mutex.run(botId, async () => {
        const bot = await this.o.store.getBot(botId, this.abort.signal);
        if (!bot) throw new NotFoundError(`no bot ${JSON.stringify(botId)}`);
        if (bot.kind !== 'scheduled' || !bot.schedule) throw new ConflictError(`bot ${botId} is a live bot; only scheduled bots have runs`);
        if (!bot.enabled) throw new ConflictError(`bot ${botId} is disabled; enable it to run it`);
        const now = this.o.clock.now();
        const run = await this.trigger(bot, { runId: runId ?? manualRunId(now), trigger: 'manual', scheduledFor: now });
        if (!run) throw new ConflictError(`run ${runId ?? ''} of bot ${botId} exists already`);
        return run;
      }),
    );
  }

  /** The next due instant this process knows for a bot (the store has the shared truth). */
  nextRunAt(botId: string): Date | undefined {
    const at = this.entries.get(botId)?.state?.nextRunAt;
    return at ? new Date(at) : undefined;
  }

  /** Number of schedules held (benchmarks, diagnostics). */
  get size(): number {
    return this.entries.size;
  }

  /** Re-reads one bot (after a change event). */
  refreshBot(botId: string): Promise<void> {
    return this.track(this.mutex.run(botId, async () => this.refreshLocked(botId, await this.o.store.getBot(botId, this.abort.signal))));
  }

  /** Re-reads every scheduled bot. */
  async refreshAll(): Promise<void> {
    const bots = await this.o.store.listBots({ kind: 'scheduled' }, this.abort.signal);
    const seen = new Set(bots.map((b) => b.id));
    const gone = [...this.entries.keys()].filter((id) => !seen.has(id));
    // The listed records are used as read (no second read per bot); the stored slot is read per bot.
    await Promise.all([
      ...bots.map((bot) => this.track(this.mutex.run(bot.id, () => this.refreshLocked(bot.id, bot)))),
      ...gone.map((id) => this.refreshBot(id)),
    ]);
  }

  /** Resolves once nothing is in flight, including watched runs that have exited. */
  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** Resolves once every run watched so far has finished and been recorded. */
  runsFinished(): Promise<void> {
    return this.executor.idle();
  }

  // ---- lifecycle ---------------------------------------------------------------------

  private async begin(): Promise<void> {
    this.lifecycle = 'running';
    this.subscriptions.push(
      this.o.events.subscribe(subjects.anyBotChanged, (subject, payload) => this.onBotEvent(subject, payload, 'changed')),
      this.o.events.subscribe(subjects.anyRunRequested, (subject, payload) => this.onBotEvent(subject, payload, 'run')),
      this.o.events.onReconnect(() => this.background('event bus reconnected', () => this.refreshAll())),
    );
    try {
      await this.adopt();
      await this.refreshAll();
      this.o.log.info({ schedules: this.entries.size }, 'schedule service started');
    } catch (err) {
      this.o.log.error({ err }, 'loading schedules failed; retrying at the next resync');
    }
    this.armResync();
  }

  private async end(): Promise<void> {
    this.lifecycle = 'stopping';
    this.cancelTimer?.();
    this.cancelResync?.();
    for (const sub of this.subscriptions.splice(0)) sub.unsubscribe();
    this.abort.abort(new ServiceStoppedError('ScheduleService stopped'));
    await this.idle();
    await this.executor.idle();
    this.lifecycle = 'stopped';
    this.o.log.info({}, 'schedule service stopped; running runs left to finish');
  }

  private isStopping(): boolean {
    return this.lifecycle === 'stopping' || this.lifecycle === 'stopped';
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.inflight.add(promise);
    const forget = () => this.inflight.delete(promise);
    promise.then(forget, forget);
    return promise;
  }

  private background(why: string, work: () => Promise<unknown>): void {
    if (this.isStopping()) return;
    this.track(work()).catch((err: unknown) => {
      if (!this.isStopping()) this.o.log.warn({ err, why }, 'schedule work failed');
    });
  }

  private onBotEvent(subject: string, payload: unknown, what: 'changed' | 'run'): void {
    const p = (payload ?? {}) as { id?: unknown; runId?: unknown };
    const botId = typeof p.id === 'string' ? p.id : subject.split('.')[2];
    if (!botId || !isValidBotId(botId)) return;
    if (what === 'changed') this.background(`changed ${botId}`, () => this.refreshBot(botId));
    else if (typeof p.runId === 'string') {
      const runId = p.runId;
      // Every scheduler hears it; the create-once run record lets exactly one of them run it.
      this.background(`run ${botId}`, () => this.runNow(botId, runId).catch((err: unknown) => {
        if (!(err instanceof ConflictError)) throw err;
      }));
    }
  }

  private armResync(): void {
    if (this.lifecycle !== 'running') return;
    this.cancelResync = this.o.clock.setTimeout(() => {
      this.background('resync', () => this.refreshAll().finally(() => this.armResync()));
    }, this.o.resyncIntervalMs);
  }

  /** Sleeps until the earliest stored next-run instant. */
  private arm(): void {
    if (this.lifecycle !== 'running') return;
    let earliest: number | undefined;
    for (const [botId, entry] of this.entries) {
      const at = this.firing.has(botId) ? undefined : this.dueAt(botId, entry);
      if (at !== undefined && (earliest === undefined || at < earliest)) earliest = at;
    }
    if (earliest === this.timerAt && this.cancelTimer) return;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.timerAt = earliest;
    if (earliest === undefined) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, earliest - this.o.clock.now().getTime()));
    this.cancelTimer = this.o.clock.setTimeout(() => {
      this.cancelTimer = undefined;
      this.timerAt = undefined;
      this.onTimer();
    }, delay);
  }

  private onTimer(): void {
    const now = this.o.clock.now().getTime();
    const due = [...this.entries.entries()]
      .filter(([id, e]) => !this.firing.has(id) && (this.dueAt(id, e) ?? Infinity) <= now)
      .map(([id]) => id);
    for (const botId of due) {
      this.firing.add(botId);
      this.background(`slot ${botId}`, () =>
        this.mutex
          .run(botId, () => this.fireDue(botId))
          .then(
            () => this.retryAt.delete(botId),
            (err: unknown) => {
              this.retryAt.set(botId, this.o.clock.now().getTime() + RETRY_MS);
              throw err;
            },
          )
          .finally(() => {
            this.firing.delete(botId);
            this.arm();
          }),
      );
    }
    this.arm();
  }

  /** When the bot's next slot is to be handled: its warm start, or the slot itself; never before a retry. */
  private dueAt(botId: string, entry: Entry): number | undefined {
    if (!entry.state) return undefined;
    return Math.max(this.readyAt(botId, entry.state), this.retryAt.get(botId) ?? 0);
  }

  private readyAt(botId: string, state: ScheduleState): number {
    const slot = Date.parse(state.nextRunAt);
    return this.coldSlots.get(botId) === state.nextRunAt ? slot : slot - this.o.warmStartMs;
  }

  // ---- per bot (always under the bot's mutex) -----------------------------------------

  private async refreshLocked(botId: string, read: Bot | null): Promise<void> {
    // A listed record read before a newer one arrived by event must not win over it.
    const known = this.entries.get(botId)?.bot;
    const bot = read && known && isNewer(known, read) ? known : read;
    if (!bot || bot.kind !== 'scheduled' || !bot.schedule || !bot.enabled) {
      const had = this.entries.delete(botId);
      this.coldSlots.delete(botId);
      // The stored slot is forgotten: re-enabling starts from the next slot, with no catch-up.
      if (had || !bot || bot.kind === 'scheduled') await this.o.store.deleteSchedule(botId, this.abort.signal);
      if (!bot) await this.stopRunsOfDeleted(botId);
      if (had) this.o.log.info({ botId }, bot ? 'schedule paused' : 'schedule removed');
      this.arm();
      return;
    }
    const entry = this.entries.get(botId) ?? { bot, state: undefined };
    entry.bot = bot;
    this.entries.set(botId, entry);
    entry.state = await this.ensureState(bot);
    this.arm();
  }

  /** The stored state for the bot's current schedule; created or recomputed (from now) when absent or stale. */
  private async ensureState(bot: Bot): Promise<ScheduleState> {
    const schedule = bot.schedule as Schedule;
    const basis = scheduleBasis(schedule);
    for (let attempt = 0; attempt < 5; attempt++) {
      const stored = await this.o.store.getSchedule(bot.id, this.abort.signal);
      if (stored && stored.basis === basis) return stored;
      const next: ScheduleState = { botId: bot.id, nextRunAt: nextFireAfter(schedule, this.o.clock.now()).toISOString(), basis };
      if (await this.o.store.advanceSchedule(stored, next, this.abort.signal)) {
        this.o.log.info({ botId: bot.id, nextRunAt: next.nextRunAt, cron: schedule.cron, timezone: schedule.timezone }, stored ? 'schedule changed: next run recomputed' : 'schedule added');
        return next;
      }
    }
    throw new ConflictError(`schedule of ${bot.id} keeps changing under this scheduler`);
  }

  private async fireDue(botId: string): Promise<void> {
    const entry = this.entries.get(botId);
    if (!entry || this.isStopping()) return;
    const schedule = entry.bot.schedule as Schedule;
    const stored = await this.o.store.getSchedule(botId, this.abort.signal);
    if (!stored || stored.basis !== scheduleBasis(schedule)) {
      entry.state = await this.ensureState(entry.bot);
      return;
    }
    const now = this.o.clock.now();
    if (this.readyAt(botId, stored) > now.getTime()) {
      entry.state = stored; // another scheduler fired it already
      return;
    }
    const slot = new Date(stored.nextRunAt);
    const warm = slot.getTime() > now.getTime();
    if (warm && !(await this.mayStartWarm(entry.bot, stored))) return;
    // Ahead of the slot, "now" for the schedule is the slot itself.
    const at = warm ? slot : now;
    const next: ScheduleState = { ...stored, nextRunAt: nextFireAfter(schedule, at).toISOString() };
    if (!(await this.o.store.advanceSchedule(stored, next, this.abort.signal))) {
      entry.state = (await this.o.store.getSchedule(botId, this.abort.signal)) ?? undefined;
      return;
    }
    entry.state = next;
    this.coldSlots.delete(botId);
    this.arm();
    const latest = latestFireAtOrBefore(schedule, at) ?? slot;
    const onTime = latest.getTime() === slot.getTime() && now.getTime() - slot.getTime() <= this.o.lateToleranceMs;
    if (onTime) {
      await this.trigger(entry.bot, { runId: slotRunId(slot), trigger: 'cron', scheduledFor: slot, ...(warm ? { startAt: slot } : {}) });
    } else if (schedule.catchUp === 'latest' && now.getTime() - latest.getTime() <= this.o.catchUpDeadlineMs) {
      this.o.log.info({ botId, missedFrom: slot.toISOString(), latest: latest.toISOString() }, 'missed slots: catching up with the latest');
      await this.trigger(entry.bot, { runId: slotRunId(latest), trigger: 'catch-up', scheduledFor: latest });
    } else {
      this.o.log.info({ botId, missedFrom: slot.toISOString(), latest: latest.toISOString(), nextRunAt: next.nextRunAt }, 'missed slots not run (catch-up none or past the deadline)');
    }
  }

  /**
   * A warm start restores the bot's state ahead of the slot, so it is only done while no run
   * of the bot is going (that run's final state would come after the restore). Otherwise
   * the slot is decided at the slot itself, under the overlap policy as always.
   */
  private async mayStartWarm(bot: Bot, stored: ScheduleState): Promise<boolean> {
    let active = true;
    try {
      active = (await this.executor.activeRuns(bot.id)).length > 0;
    } catch (err) {
      this.o.log.warn({ err, botId: bot.id }, 'cannot list the runtime ahead of a slot: deciding at the slot');
    }
    if (active) this.coldSlots.set(bot.id, stored.nextRunAt);
    return !active;
  }

  /** Applies the overlap policy, then starts the run. Null when another scheduler has this run id. */
  private async trigger(bot: Bot, request: RunRequest): Promise<Run | null> {
    const schedule = bot.schedule as Schedule;
    let active: ActualContainer[];
    try {
      active = (await this.executor.activeRuns(bot.id)).filter((c) => c.runId !== request.runId);
    } catch (err) {
      // The slot is claimed already: leave a record of why it did not run rather than nothing.
      this.o.log.error({ err, botId: bot.id, runId: request.runId }, 'cannot list the runtime: run not started');
      return this.executor.failBeforeStart(bot, request, `the runtime could not be listed: ${errorMessage(err)}`);
    }
    if (active.length > 0) {
      const running = active.map((c) => c.runId).join(', ');
      if (schedule.overlap === 'skip') return this.executor.skip(bot, request, `run ${running} was still running (overlap: skip)`);
      if (schedule.overlap === 'replace') await this.replaceAll(active, request.runId);
    }
    return this.executor.launch(bot, request);
  }

  private async replaceAll(active: ActualContainer[], byRunId: string): Promise<void> {
    await Promise.all(active.map((c) => this.executor.replace(c, byRunId)));
    this.o.log.info({ botId: active[0]?.botId, replaced: active.map((c) => c.runId), by: byRunId }, 'overlap replace: running runs stopped');
  }

  /** Run containers of a deleted bot are stopped; their watchers record and remove them. */
  private async stopRunsOfDeleted(botId: string): Promise<void> {
    const active = await this.executor.activeRuns(botId);
    await Promise.all(active.map((c) => this.o.runtime.stop(c.id, { graceSeconds: this.o.graceSeconds + FINAL_SYNC_SECONDS }, this.abort.signal)));
    await this.o.store.pruneRuns(botId, 0, this.abort.signal);
  }

  /**
   * Run containers found at start-up: ones still running are watched again (their
   * time-out counts from their start); exited ones are recorded and removed; records that
   * say `running` without a container are marked `lost`.
   */
  private async adopt(): Promise<void> {
    const containers = await this.o.runtime.list({ kind: 'scheduled' }, this.abort.signal);
    const bots = new Map((await this.o.store.listBots({ kind: 'scheduled' }, this.abort.signal)).map((b) => [b.id, b]));
    for (const c of containers) {
      if (c.runId === undefined || this.executor.isWatching(c.botId, c.runId)) continue;
      const stored = await this.o.store.getRun(c.botId, c.runId, this.abort.signal);
      if (stored && stored.status !== 'running') {
        await this.o.runtime.remove(c.id, this.abort.signal);
        continue;
      }
      const run: Run = stored ?? adoptedRun(c, this.o.clock.now());
      void this.executor.follow(run, c, bots.get(c.botId)?.schedule?.maxRuntimeSeconds);
    }
    await this.markLost(bots, containers);
  }

  private async markLost(bots: Map<string, Bot>, containers: ActualContainer[]): Promise<void> {
    const present = new Set(containers.map((c) => `${c.botId}/${c.runId}`));
    const staleBefore = this.o.clock.now().getTime() - this.o.lateToleranceMs;
    for (const botId of bots.keys()) {
      for (const run of await this.o.store.listRuns(botId, 20, this.abort.signal)) {
        // A record a moment old may belong to a run another scheduler is starting right now.
        if (run.status !== 'running' || present.has(`${botId}/${run.runId}`) || Date.parse(run.createdAt) > staleBefore) continue;
        const lost: Run = { ...run, status: 'lost', finishedAt: this.o.clock.now().toISOString(), reason: 'its container was gone when the scheduler started' };
        await this.o.store.writeRun(lost, this.abort.signal);
        this.o.log.warn({ botId, runId: run.runId }, 'scheduled run lost');
      }
    }
  }
}

/** Whether `a` is a later version of the bot than `b` (a re-created bot has a later updatedAt). */
function isNewer(a: Bot, b: Bot): boolean {
  return a.updatedAt > b.updatedAt || (a.updatedAt === b.updatedAt && a.generation > b.generation);
}

function adoptedRun(c: ActualContainer, now: Date): Run {
  const at = c.createdAt ?? now.toISOString();
  const trigger: RunTrigger = c.runId?.startsWith('m') ? 'manual' : 'cron';
  return {
    runId: c.runId as string,
    botId: c.botId,
    trigger,
    scheduledFor: at,
    createdAt: at,
    ...(c.startedAt ? { startedAt: c.startedAt } : {}),
    status: 'running',
    containerName: c.name,
  };
}

