/**
 * BotService (DESIGN §7): keeps live bots' containers in line with the desired state.
 *
 * Triggers: start-up (adoption: the containers' spec-hash labels are compared with the
 * desired state, so changes made while the service was down are applied), a timer, bot
 * changed events (that bot at once), runtime events (a container died or vanished) and
 * event-bus reconnects (full pass). Decisions come from the pure planner; this class only
 * reads, executes and records.
 *
 * Guarantees: reconciles of one bot never overlap (per-bot mutex); a full pass is
 * single-flight (requests during a pass coalesce into one more pass); one bot's failure
 * never stops the others; no container is started while the object store is unreachable
 * (it would fail in init and churn); stopping the service never stops bots.
 */
import { isValidBotId, type Bot } from '../domain/bot.js';
import { errorMessage } from '../domain/errors.js';
import { subjects, type BotStatusEvent } from '../domain/events.js';
import { specHash } from '../domain/spec-hash.js';
import type { BotStatus, DependencyHealth } from '../domain/status.js';
import type { EventBus, EventSubscription } from '../ports/events.js';
import type { ObjectStore } from '../ports/objects.js';
import type { ActualContainer, ContainerRuntime, RuntimeEvent, RuntimeEventStream } from '../ports/runtime.js';
import type { DesiredStateStore } from '../ports/store.js';
import { crashLoopPolicy, recordRestarts, type CrashLoopPolicy, type RestartHistory } from './backoff.js';
import { realClock, type Cancel, type Clock } from './clock.js';
import {
  buildContainerSpec,
  DEFAULT_DAEMON_SETTINGS,
  FINAL_SYNC_SECONDS,
  type DaemonSettings,
} from './container-spec.js';
import { ReconcileError, ServiceStoppedError } from './errors.js';
import { HealthBoard } from './health.js';
import { KeyedMutex } from './keyed-mutex.js';
import { silentLogger, type Logger } from './logger.js';
import { deriveStatus, sameStatus, type BotOutcome } from './observed-status.js';
import { planLiveBots, type Action, type ActionType, type DesiredLive } from './planner.js';

export interface BotServiceOptions {
  readonly store: DesiredStateStore;
  readonly objects: ObjectStore;
  readonly events: EventBus;
  readonly runtime: ContainerRuntime;
  /** The bot image; part of every spec hash. */
  readonly image: string;
  /** Docker network mode of bot containers (`bridge`, `host`, `none`, a network name). */
  readonly networkMode: string;
  /** Defaults to the real clock. */
  readonly clock?: Clock;
  /** Full reconcile interval; default 30 000 ms. */
  readonly intervalMs?: number;
  /** Seconds a bot gets to save after SIGTERM; default 30. */
  readonly graceSeconds?: number;
  /** The in-container daemon's sync settings; defaults from DAEMON_DEFAULTS. */
  readonly daemon?: Partial<DaemonSettings>;
  /** Crash-loop thresholds and back-off; defaults in DEFAULT_CRASH_LOOP_POLICY. */
  readonly crashLoop?: Partial<CrashLoopPolicy>;
  readonly logger?: Logger;
  /** Bots a full pass acts on at once (starts and stops are slow); default 4. */
  readonly concurrency?: number;
  /** A started bot is looked at again this much later ('starting' → 'running', early crashes); default 5000 ms. */
  readonly startCheckMs?: number;
  /** Time limit of the object-store ping; default 5000 ms. */
  readonly pingTimeoutMs?: number;
}

/** Figures of the last full pass (benchmarks, diagnostics). */
export interface PassInfo {
  readonly startedAt: string;
  readonly durationMs: number;
  /** Enabled live bots. */
  readonly desired: number;
  /** Live containers seen. */
  readonly actual: number;
  readonly actions: Readonly<Record<ActionType, number>>;
  /** Bots whose containers or status were touched. */
  readonly botsActedOn: number;
  readonly statusWrites: number;
  readonly errors: number;
  readonly objectsOk: boolean;
}

type Lifecycle = 'new' | 'running' | 'stopping' | 'stopped';

const OBJECTS_DOWN = 'object store unavailable';

/** After the exited grace, so that the planner decides instead of waiting again. */
const DIE_RECHECK_MARGIN_MS = 250;

export class BotService {
  private readonly store: DesiredStateStore;
  private readonly objects: ObjectStore;
  private readonly events: EventBus;
  private readonly runtime: ContainerRuntime;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly image: string;
  private readonly networkMode: string;
  private readonly intervalMs: number;
  private readonly graceSeconds: number;
  private readonly daemon: DaemonSettings;
  private readonly policy: CrashLoopPolicy;
  private readonly concurrency: number;
  private readonly startCheckMs: number;
  private readonly pingTimeoutMs: number;

  private lifecycle: Lifecycle = 'new';
  private startPromise: Promise<void> | undefined;
  private stopPromise: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private readonly subscriptions: EventSubscription[] = [];
  private watchStream: RuntimeEventStream | undefined;
  private cancelTick: Cancel | undefined;
  private readonly rechecks = new Map<string, { at: number; cancel: Cancel }>();
  private readonly inflight = new Set<Promise<unknown>>();

  private readonly mutex = new KeyedMutex();
  /** Per-bot reconcile requested but not begun: further requests join it. */
  private readonly queuedBots = new Map<string, Promise<void>>();
  private currentPass: Promise<PassInfo> | undefined;
  private nextPass: Promise<PassInfo> | undefined;
  /** Completion sequence number of each bot's last reconcile (see runPass). */
  private seq = 0;
  private readonly lastExecuted = new Map<string, number>();
  /**
   * Exit codes seen in `die` events, by container. A runtime may not report the exit code
   * of a container its restart policy already restarted (Docker says 0 while it runs
   * again), yet that code is what a user needs to see on a crash-looping bot.
   */
  private readonly lastExits = new Map<string, { exitCode: number; at: string }>();
  private readonly restarts = new Map<string, RestartHistory>();
  private readonly hashes = new Map<string, { generation: number; updatedAt: string; hash: string }>();
  private readonly healthBoard: HealthBoard;
  private lastPassInfo: PassInfo | undefined;

  constructor(options: BotServiceOptions) {
    this.store = options.store;
    this.objects = options.objects;
    this.events = options.events;
    this.runtime = options.runtime;
    this.clock = options.clock ?? realClock;
    this.log = options.logger ?? silentLogger;
    this.image = options.image;
    this.networkMode = options.networkMode;
    this.intervalMs = options.intervalMs ?? 30_000;
    this.graceSeconds = options.graceSeconds ?? 30;
    this.daemon = { ...DEFAULT_DAEMON_SETTINGS, ...options.daemon };
    this.policy = crashLoopPolicy(options.crashLoop);
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.startCheckMs = options.startCheckMs ?? 5_000;
    this.pingTimeoutMs = options.pingTimeoutMs ?? 5_000;
    this.healthBoard = new HealthBoard(() => this.clock.now());
  }

  /**
   * Subscribes to its triggers, runs the first full pass (adopting existing containers)
   * and starts the timer. Resolves after the first pass; a failed first pass is logged and
   * retried at the next tick. Idempotent.
   */
  start(): Promise<void> {
    if (this.lifecycle === 'stopping' || this.lifecycle === 'stopped') {
      return Promise.reject(new ServiceStoppedError('BotService was stopped; create a new one'));
    }
    this.startPromise ??= this.begin();
    return this.startPromise;
  }

  /**
   * Stops reacting and waits for in-flight reconciles to finish. Containers keep running.
   * Idempotent; every call returns the same promise. After `drainTimeoutMs` in-flight
   * remote calls are aborted.
   */
  stop(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    this.stopPromise ??= this.end(options.drainTimeoutMs ?? (this.graceSeconds + FINAL_SYNC_SECONDS + 15) * 1000);
    return this.stopPromise;
  }

  /** One full pass over every live bot. Single-flight: calls during a pass share the one after it. */
  reconcileAll(): Promise<PassInfo> {
    if (this.isStopping()) return Promise.reject(new ServiceStoppedError('BotService is stopping'));
    if (!this.currentPass) {
      const pass = this.runPass().finally(() => {
        if (this.currentPass === pass) this.currentPass = undefined;
      });
      this.currentPass = pass;
      return this.track(pass);
    }
    // Tracked at once so that idle() and stop() also wait for the coalesced pass.
    this.nextPass ??= this.track(
      this.currentPass
        .catch(() => undefined)
        .then(() => {
          this.nextPass = undefined;
          return this.reconcileAll();
        }),
    );
    return this.nextPass;
  }

  /** Reconciles one bot now, serialised with every other reconcile of it. */
  reconcileBot(botId: string): Promise<void> {
    if (this.isStopping()) return Promise.reject(new ServiceStoppedError('BotService is stopping'));
    const queued = this.queuedBots.get(botId);
    if (queued) return queued;
    const run = this.mutex.run(botId, async () => {
      this.queuedBots.delete(botId);
      if (this.isStopping()) return;
      await this.reconcileOneLocked(botId);
    });
    this.queuedBots.set(botId, run);
    return this.track(run);
  }

  /** Health of the dependencies as last observed (object store, runtime, store). */
  health(): DependencyHealth[] {
    return this.healthBoard.list();
  }

  get lastPass(): PassInfo | undefined {
    return this.lastPassInfo;
  }

  /** Resolves once nothing is in flight (reconciles triggered by events included). */
  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  // ---- lifecycle ---------------------------------------------------------------------

  private async begin(): Promise<void> {
    this.lifecycle = 'running';
    this.subscriptions.push(
      this.events.subscribe(subjects.anyBotChanged, (subject, payload) => this.onBotChanged(subject, payload)),
      this.events.onReconnect(() => this.trigger('event bus reconnected', () => this.reconcileAll())),
    );
    this.watchStream = this.runtime.watch((event) => this.onRuntimeEvent(event));
    try {
      const pass = await this.reconcileAll();
      this.log.info({ ...pass }, 'bot service started: existing containers adopted');
    } catch (err) {
      if (!(err instanceof ServiceStoppedError)) {
        this.log.error({ err }, 'first reconcile pass failed; retrying at the next tick');
      }
    }
    this.scheduleTick();
  }

  private async end(drainTimeoutMs: number): Promise<void> {
    this.lifecycle = 'stopping';
    this.cancelTick?.();
    this.cancelTick = undefined;
    for (const { cancel } of this.rechecks.values()) cancel();
    this.rechecks.clear();
    for (const sub of this.subscriptions.splice(0)) sub.unsubscribe();
    this.watchStream?.stop();
    this.watchStream = undefined;
    const cancelAbort = this.clock.setTimeout(() => this.abort.abort(new ServiceStoppedError('drain timed out')), drainTimeoutMs);
    try {
      await this.idle();
    } finally {
      cancelAbort();
      this.lifecycle = 'stopped';
    }
    this.log.info({}, 'bot service stopped; bot containers left running');
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

  /** Fire-and-forget trigger: failures are logged, never thrown at an event source. */
  private trigger(why: string, run: () => Promise<unknown>): void {
    if (this.isStopping()) return;
    run().catch((err: unknown) => {
      if (!(err instanceof ServiceStoppedError)) this.log.warn({ err, trigger: why }, 'reconcile failed');
    });
  }

  private scheduleTick(): void {
    if (this.lifecycle !== 'running') return;
    this.cancelTick = this.clock.setTimeout(() => {
      this.cancelTick = undefined;
      if (this.isStopping()) return;
      this.reconcileAll()
        .catch((err: unknown) => {
          if (!(err instanceof ServiceStoppedError)) this.log.warn({ err }, 'timer reconcile pass failed');
        })
        .finally(() => this.scheduleTick());
    }, this.intervalMs);
  }

  /** Looks at one bot again at `at` (the earliest of several requests wins). */
  private scheduleRecheck(botId: string, at: Date): void {
    if (this.lifecycle !== 'running') return;
    const when = at.getTime();
    const existing = this.rechecks.get(botId);
    if (existing && existing.at <= when) return;
    existing?.cancel();
    const cancel = this.clock.setTimeout(() => {
      this.rechecks.delete(botId);
      this.trigger(`recheck ${botId}`, () => this.reconcileBot(botId));
    }, Math.max(0, when - this.clock.now().getTime()));
    this.rechecks.set(botId, { at: when, cancel });
  }

  private onBotChanged(subject: string, payload: unknown): void {
    const fromPayload = (payload as { id?: unknown } | null)?.id;
    const botId = typeof fromPayload === 'string' ? fromPayload : subject.split('.')[2];
    if (!botId || !isValidBotId(botId)) {
      this.log.warn({ subject }, 'ignored bot-changed event without a valid bot id');
      return;
    }
    // Lets an operator (and the cross-process tests) tell an event-driven reconcile from a timer pass.
    this.log.debug({ botId, subject }, 'bot changed event');
    this.trigger(`changed ${botId}`, () => this.reconcileBot(botId));
  }

  private onRuntimeEvent(event: RuntimeEvent): void {
    if (event.kind !== 'live') return;
    if (event.type === 'die' && event.exitCode !== undefined) {
      this.lastExits.set(event.containerId, { exitCode: event.exitCode, at: event.at });
      // Bounded even if destroy events are missed: the oldest entries go first.
      if (this.lastExits.size > 10_000) this.lastExits.delete(this.lastExits.keys().next().value!);
    } else if (event.type === 'destroy') {
      this.lastExits.delete(event.containerId);
    }
    if (event.type !== 'die' && event.type !== 'destroy' && event.type !== 'oom') return;
    this.trigger(`${event.type} ${event.botId}`, () => this.reconcileBot(event.botId));
    // Docker announces `die` before its container list says `exited`, so the reconcile just
    // triggered may still see the container running; a stopped or killed bot (not restarted
    // by Docker) would then wait for the timer. Look again once the exited grace is over.
    if (event.type === 'die') this.scheduleRecheck(event.botId, new Date(this.clock.now().getTime() + this.policy.exitedGraceMs + DIE_RECHECK_MARGIN_MS));
  }

  /** Fills in exit codes the runtime no longer reports from the `die` events seen. */
  private withKnownExits(actual: ActualContainer[]): ActualContainer[] {
    if (this.lastExits.size === 0) return actual;
    return actual.map((c) => {
      const known = this.lastExits.get(c.id);
      if (c.exitCode !== undefined || !known) return c;
      return { ...c, exitCode: known.exitCode, finishedAt: c.finishedAt ?? known.at };
    });
  }

  // ---- reconciling -------------------------------------------------------------------

  private async reconcileOneLocked(botId: string): Promise<void> {
    const signal = this.abort.signal;
    const now = this.clock.now();
    const [bot, actual, status] = await Promise.all([
      this.call('store', () => this.store.getBot(botId, signal)),
      this.call('runtime', () => this.runtime.list({ kind: 'live', botId }, signal)).then((list) => this.withKnownExits(list)),
      this.call('store', () => this.store.getStatus(botId, signal)),
    ]);
    this.observeRestarts(actual, now);
    const desired = this.desiredOf(bot);
    const actions = planLiveBots({
      desired: desired ? [desired] : [],
      actual,
      statuses: status ? new Map([[botId, status]]) : new Map(),
      now,
      policy: this.policy,
      restarts: this.restarts,
      containerName: (id) => this.runtime.containerName(id),
    });
    const objectsOk = actions.some(needsObjectStore) ? await this.pingObjects() : true;
    await this.executeBot(botId, bot, actions, status ?? undefined, objectsOk);
  }

  private async runPass(): Promise<PassInfo> {
    if (this.isStopping()) throw new ServiceStoppedError('BotService is stopping');
    const signal = this.abort.signal;
    const began = performance.now();
    const now = this.clock.now();
    // Bots reconciled after this point acted on fresher data than this pass's lists.
    const startSeq = this.seq;
    const [bots, actual, statuses, objectsOk] = await Promise.all([
      this.call('store', () => this.store.listBots(undefined, signal)),
      this.call('runtime', () => this.runtime.list({ kind: 'live' }, signal)).then((list) => this.withKnownExits(list)),
      this.call('store', () => this.store.listStatuses(signal)),
      this.pingObjects(),
    ]);
    const botsById = new Map(bots.map((b) => [b.id, b]));
    const statusById = new Map(statuses.map((s) => [s.botId, s]));
    this.observeRestarts(actual, now, true);
    this.forgetHashesExcept(botsById);

    const desired: DesiredLive[] = [];
    for (const bot of bots) {
      const d = this.desiredOf(bot);
      if (d) desired.push(d);
    }
    const actions = planLiveBots({
      desired,
      actual,
      statuses: statusById,
      now,
      policy: this.policy,
      restarts: this.restarts,
      containerName: (id) => this.runtime.containerName(id),
    });
    const byBot = groupByBot(actions);

    // Bots without actions still need a status: disabled ones, and statuses of deleted bots.
    for (const bot of bots) if (bot.kind === 'live' && !byBot.has(bot.id)) byBot.set(bot.id, []);
    for (const status of statuses) if (!botsById.has(status.botId) && !byBot.has(status.botId)) byBot.set(status.botId, []);

    const work: string[] = [];
    for (const [botId, botActions] of byBot) {
      if (this.needsWork(botId, botsById.get(botId) ?? null, botActions, statusById.get(botId), now)) work.push(botId);
    }

    let statusWrites = 0;
    let errors = 0;
    await runPool(work, this.concurrency, (botId) =>
      this.mutex.run(botId, async () => {
        if (this.isStopping() || (this.lastExecuted.get(botId) ?? -1) > startSeq) return;
        const result = await this.executeBot(
          botId,
          botsById.get(botId) ?? null,
          byBot.get(botId) ?? [],
          statusById.get(botId),
          objectsOk,
        );
        if (result.wroteStatus) statusWrites++;
        if (result.failed) errors++;
      }),
    );

    for (const botId of this.lastExecuted.keys()) {
      if (!byBot.has(botId) && !this.mutex.isBusy(botId)) this.lastExecuted.delete(botId);
    }

    const info: PassInfo = {
      startedAt: now.toISOString(),
      durationMs: performance.now() - began,
      desired: desired.length,
      actual: actual.length,
      actions: countActions(actions),
      botsActedOn: work.length,
      statusWrites,
      errors,
      objectsOk,
    };
    this.lastPassInfo = info;
    this.log.debug({ ...info }, 'reconcile pass done');
    return info;
  }

  /** A bot needs the mutex when it has something to do or its status would change. */
  private needsWork(botId: string, bot: Bot | null, actions: readonly Action[], prev: BotStatus | undefined, now: Date): boolean {
    if (actions.some((a) => a.type !== 'none')) return true;
    const outcome = outcomeOfNone(bot, actions);
    for (const action of actions) if (action.type === 'none' && action.recheckAt) this.scheduleRecheck(botId, action.recheckAt);
    const next = deriveStatus(botId, prev, outcome, now, this.policy);
    if (next === undefined) return false;
    if (next === null) return prev !== undefined;
    return !sameStatus(prev, next);
  }

  private async executeBot(
    botId: string,
    bot: Bot | null,
    actions: readonly Action[],
    prev: BotStatus | undefined,
    objectsOk: boolean,
  ): Promise<{ wroteStatus: boolean; failed: boolean }> {
    const outcome: { -readonly [K in keyof BotOutcome]: BotOutcome[K] } = { bot };
    for (const action of actions) {
      try {
        await this.execute(action, bot, objectsOk, outcome);
      } catch (err) {
        const error = new ReconcileError(botId, action.type, errorMessage(err), { cause: err });
        this.log.error({ err: error, botId, action: action.type }, error.message);
        outcome.error = shortReason(err);
        break; // later actions (a start after a failed removal) depend on this one
      }
    }
    let wroteStatus = false;
    try {
      wroteStatus = await this.recordStatus(botId, prev, outcome);
    } catch (err) {
      this.log.error({ err, botId }, 'writing bot status failed');
      outcome.error ??= shortReason(err);
    } finally {
      this.lastExecuted.set(botId, ++this.seq);
    }
    return { wroteStatus, failed: outcome.error !== undefined };
  }

  private async execute(
    action: Action,
    bot: Bot | null,
    objectsOk: boolean,
    outcome: { -readonly [K in keyof BotOutcome]: BotOutcome[K] },
  ): Promise<void> {
    switch (action.type) {
      case 'none':
        if (action.container) outcome.container = action.container;
        if (action.wait) outcome.wait = action.wait;
        if (action.recheckAt) this.scheduleRecheck(action.botId, action.recheckAt);
        return;
      case 'remove':
        // A running bot stopped now could not upload its final state: keep it until the store is back.
        if (!objectsOk && isUp(action.container)) {
          outcome.deferred = `${OBJECTS_DOWN}: stop deferred`;
          if (action.reason === 'undesired') outcome.container = action.container;
          return;
        }
        this.log.info({ botId: action.botId, containerId: action.container.id, reason: action.reason }, 'removing container');
        await this.removeContainer(action.container);
        if (action.reason === 'exited') outcome.exited = action.container;
        return;
      case 'start':
        if (!objectsOk) {
          outcome.deferred = `${OBJECTS_DOWN}: start deferred`;
          return;
        }
        outcome.container = await this.startContainer(requireBot(bot, action.botId), action.specHash);
        outcome.started = true;
        return;
      case 'replace':
        if (!objectsOk) {
          outcome.container = action.old;
          outcome.deferred = `${OBJECTS_DOWN}: replace deferred`;
          return;
        }
        this.log.info({ botId: action.botId, containerId: action.old.id, reason: action.reason }, 'replacing container');
        await this.removeContainer(action.old);
        outcome.container = await this.startContainer(requireBot(bot, action.botId), action.specHash);
        outcome.started = true;
        return;
      case 'crash-loop':
        this.log.warn(
          { botId: action.botId, containerId: action.container.id, reason: action.reason, backoffUntil: action.backoffUntil.toISOString() },
          'bot is crash-looping: container removed, start backed off',
        );
        await this.removeContainer(action.container);
        this.restarts.delete(action.container.id);
        outcome.crashLoop = action;
        this.scheduleRecheck(action.botId, action.backoffUntil);
        return;
    }
  }

  private async startContainer(bot: Bot, hash: string): Promise<ActualContainer> {
    const signal = this.abort.signal;
    const objectAccess = await this.objects.daemonAccess(bot.id, this.runtime.objectAccess);
    const spec = buildContainerSpec(bot, {
      name: this.runtime.containerName(bot.id),
      image: this.image,
      specHash: hash,
      graceSeconds: this.graceSeconds,
      networkMode: this.networkMode,
      objectAccess,
      daemon: this.daemon,
    });
    this.log.info({ botId: bot.id, name: spec.name, specHash: hash }, 'starting container');
    const container = await this.call('runtime', () => this.runtime.start(spec, signal));
    this.scheduleRecheck(bot.id, new Date(this.clock.now().getTime() + this.startCheckMs));
    return container;
  }

  private async removeContainer(container: ActualContainer): Promise<void> {
    const signal = this.abort.signal;
    if (isUp(container)) {
      await this.call('runtime', () =>
        this.runtime.stop(container.id, { graceSeconds: this.graceSeconds + FINAL_SYNC_SECONDS }, signal),
      );
    }
    await this.call('runtime', () => this.runtime.remove(container.id, signal));
  }

  /** Writes the status when it changed; publishes when the phase changed. */
  private async recordStatus(botId: string, prev: BotStatus | undefined, outcome: BotOutcome): Promise<boolean> {
    const signal = this.abort.signal;
    const next = deriveStatus(botId, prev, outcome, this.clock.now(), this.policy);
    if (next === undefined) return false;
    if (next === null) {
      this.forgetBot(botId);
      if (!prev) return false;
      await this.call('store', () => this.store.deleteStatus(botId, signal));
      return true;
    }
    if (sameStatus(prev, next)) return false;
    await this.call('store', () => this.store.writeStatus(next, signal));
    if (prev?.phase !== next.phase) {
      const event: BotStatusEvent = { id: botId, phase: next.phase, at: next.updatedAt };
      await this.events.publish(subjects.botStatus(botId), event, signal).catch((err: unknown) => {
        this.log.warn({ err, botId }, 'publishing bot status failed');
      });
    }
    return true;
  }

  // ---- helpers -----------------------------------------------------------------------

  private desiredOf(bot: Bot | null): DesiredLive | undefined {
    if (!bot || bot.kind !== 'live' || !bot.enabled) return undefined;
    return { botId: bot.id, specHash: this.hashOf(bot) };
  }

  /** Spec hashes are cached per generation: hashing 10,000 bots every pass is wasted work. */
  private hashOf(bot: Bot): string {
    const cached = this.hashes.get(bot.id);
    if (cached && cached.generation === bot.generation && cached.updatedAt === bot.updatedAt) return cached.hash;
    const hash = specHash(bot, this.image);
    this.hashes.set(bot.id, { generation: bot.generation, updatedAt: bot.updatedAt, hash });
    return hash;
  }

  private forgetHashesExcept(bots: ReadonlyMap<string, Bot>): void {
    for (const id of this.hashes.keys()) if (!bots.has(id)) this.hashes.delete(id);
  }

  private forgetBot(botId: string): void {
    this.hashes.delete(botId);
  }

  /** Updates restart histories; a full pass also drops those of vanished containers. */
  private observeRestarts(actual: readonly ActualContainer[], now: Date, complete = false): void {
    const seen = complete ? new Set<string>() : undefined;
    for (const container of actual) {
      seen?.add(container.id);
      this.restarts.set(container.id, recordRestarts(this.restarts.get(container.id), container, now, this.policy));
    }
    if (seen) for (const id of this.restarts.keys()) if (!seen.has(id)) this.restarts.delete(id);
  }

  private async pingObjects(): Promise<boolean> {
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.pingTimeoutMs)]);
    try {
      await this.objects.ping(signal);
      this.healthBoard.report('objects', true);
      return true;
    } catch (err) {
      const was = this.healthBoard.get('objects');
      this.healthBoard.report('objects', false, errorMessage(err));
      if (!was || was.ok) {
        this.log.warn({ err }, 'object store unreachable: no bot containers are started until it is back');
      }
      return false;
    }
  }

  /** Runs a call to a dependency and records its health. */
  private async call<T>(name: DependencyHealth['name'], fn: () => Promise<T>): Promise<T> {
    try {
      const result = await fn();
      if (this.healthBoard.get(name)?.ok !== true) this.healthBoard.report(name, true);
      return result;
    } catch (err) {
      if (isUnavailable(err)) this.healthBoard.report(name, false, errorMessage(err));
      throw err;
    }
  }
}

function needsObjectStore(action: Action): boolean {
  return action.type === 'start' || action.type === 'replace' || (action.type === 'remove' && isUp(action.container));
}

/** A container with a process that a stop would interrupt. */
function isUp(container: ActualContainer): boolean {
  return container.state === 'running' || container.state === 'restarting' || container.state === 'paused';
}

function isUnavailable(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'unavailable';
}

function requireBot(bot: Bot | null, botId: string): Bot {
  if (!bot) throw new ReconcileError(botId, 'start', 'the bot record vanished');
  return bot;
}

function outcomeOfNone(bot: Bot | null, actions: readonly Action[]): BotOutcome {
  let container: ActualContainer | undefined;
  let wait: BotOutcome['wait'];
  for (const action of actions) {
    if (action.type !== 'none') continue;
    container = action.container ?? container;
    wait = action.wait ?? wait;
  }
  return { bot, ...(container ? { container } : {}), ...(wait ? { wait } : {}) };
}

function groupByBot(actions: readonly Action[]): Map<string, Action[]> {
  const byBot = new Map<string, Action[]>();
  for (const action of actions) {
    const list = byBot.get(action.botId);
    if (list) list.push(action);
    else byBot.set(action.botId, [action]);
  }
  return byBot;
}

function countActions(actions: readonly Action[]): Record<ActionType, number> {
  const counts: Record<ActionType, number> = { start: 0, replace: 0, remove: 0, 'crash-loop': 0, none: 0 };
  for (const action of actions) counts[action.type]++;
  return counts;
}

/** One line for status.lastError. */
function shortReason(err: unknown): string {
  const message = errorMessage(err).split('\n')[0] ?? '';
  // Long enough for an error and its remedy (the name-taken messages end with what to do).
  return message.length > 400 ? `${message.slice(0, 397)}...` : message;
}

async function runPool<T>(items: readonly T[], limit: number, run: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      await run(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
