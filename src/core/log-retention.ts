/**
 * Log retention: a bot's log chunks older than the retention are deleted, a whole UTC day
 * at a time (`logs/<id>/<YYYY-MM-DD>/`, DESIGN §4). Without it a bot that prints a line a
 * second grows its logs by ~10 MB a day for as long as it runs.
 *
 * Each sweep costs one list page per bot (the oldest key is the first one listed) plus the
 * deletions; nothing is listed beyond the oldest day that is kept. Sweeps by several
 * processes on one object store are harmless: deleting a deleted day deletes nothing.
 */
import { logDay, logDayOfKey, objectKeys } from '../domain/object-keys.js';
import type { ObjectStore } from '../ports/objects.js';
import type { DesiredStateStore } from '../ports/store.js';
import type { Cancel, Clock } from './clock.js';
import type { Logger } from './logger.js';

const DAY_MS = 86_400_000;
/** Default time between sweeps; the first runs a minute after start. */
export const LOG_SWEEP_INTERVAL_MS = 6 * 3_600_000;
const FIRST_SWEEP_DELAY_MS = 60_000;

export interface LogRetentionOptions {
  readonly store: Pick<DesiredStateStore, 'listBots'>;
  readonly objects: Pick<ObjectStore, 'list' | 'deletePrefix'>;
  readonly clock: Clock;
  readonly log: Logger;
  /** Whole days of logs kept before the current UTC day's; at least 1. */
  readonly retentionDays: number;
  readonly intervalMs?: number;
}

export interface SweepResult {
  readonly bots: number;
  readonly daysDeleted: number;
  readonly objectsDeleted: number;
}

export class LogRetention {
  private readonly abort = new AbortController();
  private cancelTimer: Cancel = () => undefined;
  private sweeping: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly o: LogRetentionOptions) {
    if (!Number.isInteger(o.retentionDays) || o.retentionDays < 1) throw new RangeError(`retentionDays must be a whole number ≥ 1, got ${o.retentionDays}`);
  }

  start(): void {
    this.schedule(FIRST_SWEEP_DELAY_MS);
  }

  /** Idempotent; waits for a sweep in progress to stop. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer();
    this.abort.abort(new Error('log retention stopped'));
    await this.sweeping;
  }

  /** The first UTC day kept: everything in earlier days goes. */
  firstKeptDay(now: Date = this.o.clock.now()): string {
    return logDay(now.getTime() - this.o.retentionDays * DAY_MS);
  }

  async sweep(signal: AbortSignal = this.abort.signal): Promise<SweepResult> {
    const cutoff = this.firstKeptDay();
    const bots = await this.o.store.listBots({}, signal);
    let daysDeleted = 0;
    let objectsDeleted = 0;
    for (const bot of bots) {
      let previous: string | undefined;
      for (let day = await this.oldestDay(bot.id, signal); day !== undefined && day < cutoff; day = await this.oldestDay(bot.id, signal)) {
        // A store whose listing lags its deletions shows the same day again: next sweep.
        if (day === previous) break;
        objectsDeleted += await this.o.objects.deletePrefix(objectKeys.logDayPrefix(bot.id, day), signal);
        daysDeleted++;
        previous = day;
      }
    }
    if (daysDeleted > 0) this.o.log.info({ daysDeleted, objectsDeleted, before: cutoff }, 'old log days deleted');
    return { bots: bots.length, daysDeleted, objectsDeleted };
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.cancelTimer = this.o.clock.setTimeout(() => {
      this.sweeping = this.sweep()
        .catch((err: unknown) => {
          if (!this.abort.signal.aborted) this.o.log.warn({ err }, 'log retention sweep failed; trying again at the next one');
        })
        .finally(() => this.schedule(this.o.intervalMs ?? LOG_SWEEP_INTERVAL_MS));
    }, ms);
  }

  /** The day of the bot's oldest log chunk (keys sort by day), or undefined when it has none. */
  private async oldestDay(botId: string, signal: AbortSignal): Promise<string | undefined> {
    for await (const info of this.o.objects.list(objectKeys.logsPrefix(botId), signal)) {
      // A key that is not a chunk (no day folder) is not ours to age out; nothing older follows it.
      return logDayOfKey(botId, info.key);
    }
    return undefined;
  }
}
