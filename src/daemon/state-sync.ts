/**
 * Keeps `state/<botId>/state.tar.gz` equal to the newest valid content of the state
 * directory (DESIGN §6.2, §6.5):
 * - recursive directory watch (hint) + slow poll (safety net) → trailing debounce with a
 *   maximum wait → content hash of the whole tree → upload only when it changed;
 * - a root `state.json` that does not parse is never uploaded (the last good state stays);
 *   an emptied directory is uploaded like any other content;
 * - one sync at a time, each reading the directory afresh, so an older snapshot can never be
 *   uploaded after a newer one; while the store is down the newest state simply stays on
 *   disk and uploads are retried with capped exponential back-off;
 * - whether the newest state is being saved (whole) is kept in the object store as well
 *   (problem-recorder.ts), since a refused sync leaves the last good state looking current.
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { PackageLimits } from '../archive/types.js';
import { PackageRejectedError } from '../domain/errors.js';
import { objectKeys } from '../domain/object-keys.js';
import type { ObjectStore } from '../ports/objects.js';
import { cappedBackoff } from './backoff.js';
import { storeCallSignal, systemClock, type Clock } from './clock.js';
import { TrailingDebounce } from './debounce.js';
import { ProblemRecorder } from './problem-recorder.js';
import { refusalFinding, savedFinding } from './state-findings.js';
import { InvalidStateJson, StateChangedDuringSnapshot, hashState, packState } from './state-snapshot.js';
import { TreeWatcher } from './tree-watcher.js';

export type SyncOutcome = 'uploaded' | 'unchanged' | 'invalid' | 'failed' | 'retry';

/** An outcome and, when the state itself stopped the sync, the error that says why. */
interface Attempt {
  readonly outcome: SyncOutcome;
  readonly refusal?: Error;
}

export interface StateSyncOptions {
  readonly store: ObjectStore;
  readonly botId: string;
  readonly stateDir: string;
  /** Where the upload is staged (outside the state directory, so it does not trigger the watch). */
  readonly workDir: string;
  readonly debounceMs: number;
  readonly maxWaitMs: number;
  /** Safety-net poll period; default 10 s. */
  readonly pollMs?: number;
  /** false: poll only (for filesystems without change notifications). Default true. */
  readonly watch?: boolean;
  readonly limits: PackageLimits;
  /** A one-line message for the bot's log (`berth` stream). */
  readonly log: (line: string) => void;
  readonly clock?: Clock;
}

export class StateSync {
  private readonly clock: Clock;
  private readonly debounce: TrailingDebounce;
  private readonly watcher: TreeWatcher;
  private readonly backoff = cappedBackoff(500, 30_000);
  private readonly problems: ProblemRecorder;
  /** Entries whose skipping was logged (once each). */
  private readonly skipped = new Set<string>();
  private lastUploadedHash: string | undefined;
  private lastInvalidHash: string | undefined;
  private lastProblem: string | undefined;
  private lastPollSignature: string | undefined;
  private running: Promise<SyncOutcome> | undefined;
  private rerun = false;
  private failing = false;
  private stopped = false;
  private pollTimer: unknown;
  /** Set by finalSync: no store call may outlive it. */
  private deadlineMs: number | undefined;
  private retryTimer: unknown;
  /** Number of uploads done by this process (diagnostics and tests). */
  uploads = 0;

  constructor(private readonly options: StateSyncOptions) {
    this.clock = options.clock ?? systemClock;
    this.debounce = new TrailingDebounce(options.debounceMs, options.maxWaitMs, this.clock, () => void this.syncNow());
    this.watcher = new TreeWatcher(options.stateDir, () => this.changed());
    this.problems = new ProblemRecorder({ store: options.store, botId: options.botId, clock: this.clock, log: options.log });
  }

  /**
   * Starts watching. The current content counts as stored (init has just restored it), so a
   * restart does not upload an unchanged state again.
   */
  async start(): Promise<void> {
    this.lastUploadedHash = await hashState(this.options.stateDir, this.snapshotOptions(new Map())).catch(() => undefined);
    if (this.options.watch !== false) await this.watcher.start();
    this.schedulePoll();
  }

  /** Something changed (watch event or caller): sync after the quiet period. */
  changed(): void {
    if (!this.stopped) this.debounce.touch();
  }

  /** One sync now, or joins the running one and runs again after it. */
  syncNow(): Promise<SyncOutcome> {
    if (this.running) {
      this.rerun = true;
      return this.running;
    }
    this.running = this.syncOnce().finally(() => {
      this.running = undefined;
    });
    void this.running.then((outcome) => this.afterSync(outcome));
    return this.running;
  }

  /**
   * Stops watching and makes the stored state equal to the directory's current valid
   * content, retrying until `deadlineMs` (clock time), then stores whether that worked
   * (the problem record). Returns the last outcome.
   */
  async finalSync(deadlineMs: number): Promise<SyncOutcome> {
    this.deadlineMs = deadlineMs;
    this.stop();
    if (this.running) await this.running.catch(() => undefined);
    const outcome = await this.syncUntil(deadlineMs);
    await this.problems.flush(deadlineMs);
    return outcome;
  }

  private async syncUntil(deadlineMs: number): Promise<SyncOutcome> {
    for (;;) {
      const outcome = await this.syncOnce();
      if (outcome !== 'failed' && outcome !== 'retry') return outcome;
      const wait = Math.min(outcome === 'retry' ? 50 : this.backoff.next(), deadlineMs - this.clock.now());
      if (wait <= 0) return outcome;
      await new Promise<void>((r) => this.clock.setTimeout(r, wait));
    }
  }

  stop(): void {
    this.stopped = true;
    this.debounce.cancel();
    this.watcher.close();
    if (this.pollTimer !== undefined) this.clock.clearTimeout(this.pollTimer);
    if (this.retryTimer !== undefined) this.clock.clearTimeout(this.retryTimer);
    this.problems.stop();
  }

  /** Resolves once the save status found so far is in the object store (diagnostics and tests). */
  problemsRecorded(): Promise<boolean> {
    return this.problems.idle();
  }

  private afterSync(outcome: SyncOutcome): void {
    if (this.stopped) return;
    if (outcome === 'failed') {
      if (this.retryTimer !== undefined) this.clock.clearTimeout(this.retryTimer);
      this.retryTimer = this.clock.setTimeout(() => void this.syncNow(), this.backoff.next());
      return;
    }
    if (this.rerun || outcome === 'retry') {
      this.rerun = false;
      this.debounce.touch();
    }
  }

  /**
   * The safety net for missed events: a cheap signature (paths, sizes, mtimes) every poll,
   * and a full sync only when it changed, so an idle bot with a large state costs nothing.
   */
  private schedulePoll(): void {
    this.pollTimer = this.clock.setTimeout(() => {
      if (this.stopped) return;
      if (this.options.watch !== false) void this.watcher.rescan();
      void treeSignature(this.options.stateDir).then((sig) => {
        if (sig === this.lastPollSignature || this.stopped) return;
        this.lastPollSignature = sig;
        if (!this.debounce.pending) void this.syncNow();
      });
      this.schedulePoll();
    }, this.options.pollMs ?? 10_000);
  }

  /** `skips` collects what this sync leaves out (path → reason). */
  private snapshotOptions(skips: Map<string, string>) {
    return {
      limits: this.options.limits,
      onSkip: (rel: string, reason: string) => {
        skips.set(rel, reason);
        if (this.skipped.has(rel)) return;
        this.skipped.add(rel);
        this.options.log(`state: ${rel} is not saved: ${reason}`);
      },
    };
  }

  private async syncOnce(): Promise<SyncOutcome> {
    const skips = new Map<string, string>();
    const { outcome, refusal } = await this.attempt(skips);
    if (refusal) this.problems.found(refusalFinding(refusal));
    else if (outcome === 'uploaded' || (outcome === 'unchanged' && skips.size > 0)) this.problems.found(savedFinding(skips));
    else if (outcome === 'unchanged') this.problems.inSync();
    return outcome;
  }

  private async attempt(skips: Map<string, string>): Promise<Attempt> {
    const { stateDir, workDir, store, botId } = this.options;
    const staged = path.join(workDir, '.state-upload.tar.gz');
    let current: string | undefined;
    try {
      current = await hashState(stateDir, this.snapshotOptions(skips));
      if (current === this.lastUploadedHash) return { outcome: 'unchanged' };
      // Refused before: the record already says why.
      if (current === this.lastInvalidHash) return { outcome: 'invalid' };
      const packed = await packState(stateDir, staged, this.snapshotOptions(skips));
      if (packed.hash === this.lastUploadedHash) return { outcome: 'unchanged' };
      try {
        await store.put(objectKeys.state(botId), createReadStream(staged), packed.size, storeCallSignal(this.deadlineMs));
      } catch (err) {
        if (!this.failing) this.options.log(`state upload failed, keeping the newest state locally and retrying: ${(err as Error).message}`);
        this.failing = true;
        return { outcome: 'failed' };
      }
      if (this.failing) this.options.log('state upload works again');
      this.failing = false;
      this.backoff.reset();
      this.lastUploadedHash = packed.hash;
      this.lastInvalidHash = undefined;
      this.lastProblem = undefined;
      this.uploads++;
      return { outcome: 'uploaded' };
    } catch (err) {
      if (err instanceof StateChangedDuringSnapshot) return { outcome: 'retry' };
      if (err instanceof InvalidStateJson || err instanceof PackageRejectedError) {
        if (err.message !== this.lastProblem) this.options.log(`state not saved: ${err.message}; the last good state stays`);
        this.lastProblem = err.message;
        this.lastInvalidHash = current;
        return { outcome: 'invalid', refusal: err };
      }
      this.options.log(`state sync failed: ${(err as Error).message}`);
      return { outcome: 'failed', refusal: err as Error };
    } finally {
      await rm(staged, { force: true }).catch(() => undefined);
    }
  }
}

/** Paths, types, sizes and modification times of the whole tree, as one string. */
async function treeSignature(root: string): Promise<string> {
  const parts: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const abs = path.join(dir, name);
      const info = await lstat(abs).catch(() => undefined);
      if (!info) continue;
      parts.push(`${rel}${name}\0${info.mode}\0${info.size}\0${info.mtimeMs}`);
      if (info.isDirectory()) await walk(abs, `${rel}${name}/`);
    }
  };
  await walk(root, '');
  return parts.join('\n');
}
