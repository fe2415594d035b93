/**
 * Keeps `state/<botId>/problem.json` saying whether the newest state is being saved, so the
 * API can show it (a log line alone scrolls away). Cheap by construction: the record is
 * read once, on the first finding of this process, and written only when what it says
 * changes — never per poll or per upload.
 *
 * A restored state proves nothing about the newest state of an earlier container or run:
 * a record left by one stays until this process saves a state the bot wrote or finds a
 * problem of its own. So a scheduled bot whose every run ends with a state too large shows
 * the problem between runs, with the time it began.
 */
import { errorMessage } from '../domain/errors.js';
import { objectKeys } from '../domain/object-keys.js';
import { STATE_PROBLEM_MAX_BYTES, encodeProblemRecord, parseProblemRecord, type StateProblem } from '../domain/state-problem.js';
import type { ObjectStore } from '../ports/objects.js';
import { cappedBackoff } from './backoff.js';
import { storeCallSignal, type Clock } from './clock.js';
import { nextProblem, type Finding } from './state-findings.js';

export interface ProblemRecorderOptions {
  readonly store: ObjectStore;
  readonly botId: string;
  readonly clock: Clock;
  /** A one-line message for the bot's log (`berth` stream). */
  readonly log: (line: string) => void;
}

export class ProblemRecorder {
  private readonly key: string;
  private readonly backoff = cappedBackoff(1000, 60_000);
  /** What the object says; undefined until read. */
  private stored: StateProblem | null | undefined;
  /** The newest finding; undefined while there is none. */
  private wanted: Finding | undefined;
  private reportedProblem = false;
  private chain: Promise<boolean> = Promise.resolve(true);
  private failing = false;
  private stopped = false;
  private retryTimer: unknown;
  private deadlineMs: number | undefined;

  constructor(private readonly options: ProblemRecorderOptions) {
    this.key = objectKeys.stateProblem(options.botId);
  }

  /** What the newest sync found: a problem, or null when it stored the state whole. */
  found(finding: Finding): void {
    if (finding !== null) this.reportedProblem = true;
    this.wanted = finding;
    void this.settle();
  }

  /**
   * The directory equals the stored state again. That clears only a problem this process
   * found: equality with a restored state is no news (see the top of this file).
   */
  inSync(): void {
    if (this.reportedProblem) this.found(null);
  }

  /** Writes what is pending, retrying until `deadlineMs` (clock time). False if it could not. */
  async flush(deadlineMs: number): Promise<boolean> {
    this.deadlineMs = deadlineMs;
    this.stop();
    for (;;) {
      if (await this.settle()) return true;
      const wait = Math.min(this.backoff.next(), deadlineMs - this.options.clock.now());
      if (wait <= 0) return false;
      await new Promise<void>((resolve) => this.options.clock.setTimeout(resolve, wait));
    }
  }

  /** Resolves once every finding so far is recorded (true) or its write failed (false). */
  idle(): Promise<boolean> {
    return this.chain;
  }

  /** No more retries on the timer; flush still works. */
  stop(): void {
    this.stopped = true;
    if (this.retryTimer !== undefined) this.options.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  /** One pass at a time, so an older finding can never be written over a newer one. */
  private settle(): Promise<boolean> {
    this.chain = this.chain.then(() => this.settleOnce());
    return this.chain;
  }

  private async settleOnce(): Promise<boolean> {
    try {
      while (this.wanted !== undefined) {
        const finding = this.wanted;
        if (this.stored === undefined) this.stored = await this.load();
        const next = nextProblem(this.stored, finding, new Date(this.options.clock.now()).toISOString());
        if (next !== 'same') {
          await this.write(next);
          this.stored = next;
        }
        // A newer finding that came while writing goes round again.
        if (this.wanted === finding) this.wanted = undefined;
      }
      if (this.failing) this.options.log("the state's save status is recorded again");
      this.failing = false;
      this.backoff.reset();
      return true;
    } catch (err) {
      if (!this.failing) this.options.log(`cannot record the state's save status in the object store, retrying: ${errorMessage(err)}`);
      this.failing = true;
      this.retryLater();
      return false;
    }
  }

  private retryLater(): void {
    if (this.stopped || this.retryTimer !== undefined) return;
    this.retryTimer = this.options.clock.setTimeout(() => {
      this.retryTimer = undefined;
      void this.settle();
    }, this.backoff.next());
  }

  private async load(): Promise<StateProblem | null> {
    const body = await this.options.store.read(this.key, STATE_PROBLEM_MAX_BYTES, storeCallSignal(this.deadlineMs));
    if (body === null) return null;
    // Not ours (far larger than any record written here): overwritten by the next change.
    if ('stream' in body) {
      body.stream.destroy();
      return null;
    }
    return parseProblemRecord(body.bytes)?.problem ?? null;
  }

  private async write(problem: StateProblem | null): Promise<void> {
    const at = new Date(this.options.clock.now()).toISOString();
    await this.options.store.put(this.key, encodeProblemRecord({ problem, at }), undefined, storeCallSignal(this.deadlineMs));
  }
}
