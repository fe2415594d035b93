/**
 * Ships the bot's log lines to the object store as NDJSON chunks (LogEntry), one new object
 * per chunk (objectKeys.logChunk), never rewriting one. A chunk gets its key when it is
 * first sealed, so a retry after a failed (or half-failed) put writes the same key again
 * instead of duplicating lines. While the store is down, lines wait in memory up to a cap;
 * beyond it the oldest are dropped and a `berth` line says how many.
 *
 * The bot's lines are also rate-limited (a token bucket: LOG_RATE_DEFAULTS), so a bot that
 * prints in a loop cannot fill the object store's disk (one seen at 12 MB/s); lines over the
 * rate are dropped, counted, and reported in a `berth` line. The daemon's own lines never are.
 */
import { formatLogChunk, type LogEntry } from '../domain/logs.js';
import { objectKeys } from '../domain/object-keys.js';
import type { ObjectStore } from '../ports/objects.js';
import { cappedBackoff } from './backoff.js';
import { storeCallSignal, systemClock, type Clock } from './clock.js';

const MAX_CHUNK_LINES = 5000;
const MAX_CHUNK_BYTES = 1024 * 1024;
const MAX_PENDING_BYTES = 8 * 1024 * 1024;

/** ~2.7 GB a day at most per bot, in bursts of up to 4 MiB: far above what a bot needs to say. */
export const LOG_RATE_DEFAULTS = { bytesPerSecond: 32 * 1024, burstBytes: 4 * 1024 * 1024 } as const;

interface Sealed {
  readonly key: string;
  readonly body: Buffer;
}

export interface LogShipperOptions {
  readonly store: ObjectStore;
  readonly botId: string;
  readonly runId?: string | undefined;
  readonly intervalMs: number;
  readonly clock?: Clock;
  /** Called when shipping fails (first failure after a success) and recovers. */
  readonly onTrouble?: (message: string) => void;
  /** The bot's lines beyond this rate are dropped; default LOG_RATE_DEFAULTS. */
  readonly rate?: { readonly bytesPerSecond: number; readonly burstBytes: number };
}

export class LogShipper {
  private pending: LogEntry[] = [];
  private pendingBytes = 0;
  private dropped = 0;
  private readonly sealed: Sealed[] = [];
  private seq = 0;
  private lastEpochMs = 0;
  private timer: unknown;
  private inFlight: Promise<boolean> | undefined;
  private failing = false;
  private readonly backoff = cappedBackoff(1000, 30_000);
  private retryAt = 0;
  private readonly clock: Clock;
  private closed = false;
  private deadlineMs: number | undefined;
  private readonly rate: { readonly bytesPerSecond: number; readonly burstBytes: number };
  private tokens: number;
  private refilledAt: number;
  private overRate = { lines: 0, bytes: 0 };

  constructor(private readonly options: LogShipperOptions) {
    this.clock = options.clock ?? systemClock;
    this.rate = options.rate ?? LOG_RATE_DEFAULTS;
    this.tokens = this.rate.burstBytes;
    this.refilledAt = this.clock.now();
  }

  push(stream: LogEntry['stream'], line: string): void {
    if (stream !== 'berth' && !this.withinRate(line.length + 1)) return;
    const entry: LogEntry = {
      time: new Date(this.clock.now()).toISOString(),
      stream,
      line,
      ...(this.options.runId ? { runId: this.options.runId } : {}),
    };
    this.pending.push(entry);
    this.pendingBytes += line.length + 64;
    while (this.pendingBytes > MAX_PENDING_BYTES && this.pending.length > 1) {
      const old = this.pending.shift()!;
      this.pendingBytes -= old.line.length + 64;
      this.dropped++;
    }
  }

  private withinRate(bytes: number): boolean {
    const now = this.clock.now();
    this.tokens = Math.min(this.rate.burstBytes, this.tokens + ((now - this.refilledAt) * this.rate.bytesPerSecond) / 1000);
    this.refilledAt = now;
    if (this.tokens >= bytes) {
      this.tokens -= bytes;
      return true;
    }
    this.overRate.lines++;
    this.overRate.bytes += bytes;
    return false;
  }

  /** Ships on a timer every intervalMs. */
  start(): void {
    if (this.closed) return;
    const tick = (): void => {
      this.timer = this.clock.setTimeout(() => {
        if (this.clock.now() >= this.retryAt) void this.flush().finally(tick);
        else tick();
      }, this.options.intervalMs);
    };
    tick();
  }

  get hasUnshipped(): boolean {
    return this.pending.length > 0 || this.sealed.length > 0;
  }

  /** Ships everything pending; true when nothing is left. Single-flight. */
  flush(): Promise<boolean> {
    this.inFlight ??= this.ship().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** Stops the timer and ships what is left, retrying until `deadlineMs` (clock time). */
  async close(deadlineMs: number): Promise<boolean> {
    this.closed = true;
    this.deadlineMs = deadlineMs;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    for (;;) {
      if (await this.flush()) return true;
      const wait = Math.min(this.backoff.next(), deadlineMs - this.clock.now());
      if (wait <= 0) return false;
      await new Promise<void>((r) => this.clock.setTimeout(r, wait));
    }
  }

  private seal(): void {
    if (this.dropped > 0) {
      this.pending.unshift({
        time: new Date(this.clock.now()).toISOString(),
        stream: 'berth',
        line: `${this.dropped} log lines were dropped while the object store was unavailable`,
        ...(this.options.runId ? { runId: this.options.runId } : {}),
      });
      this.dropped = 0;
    }
    if (this.overRate.lines > 0) {
      const { lines, bytes } = this.overRate;
      this.pending.push({
        time: new Date(this.clock.now()).toISOString(),
        stream: 'berth',
        line: `${lines} log lines (${bytes} bytes) were not stored: the bot logged more than ${this.rate.bytesPerSecond} bytes/s (bursts up to ${this.rate.burstBytes}); \`docker logs\` still has the most recent ones`,
        ...(this.options.runId ? { runId: this.options.runId } : {}),
      });
      this.overRate = { lines: 0, bytes: 0 };
    }
    while (this.pending.length > 0) {
      let bytes = 0;
      let n = 0;
      while (n < this.pending.length && n < MAX_CHUNK_LINES && bytes < MAX_CHUNK_BYTES) {
        bytes += this.pending[n]!.line.length + 64;
        n++;
      }
      const entries = this.pending.splice(0, n);
      this.pendingBytes = Math.max(0, this.pendingBytes - bytes);
      const epochMs = Math.max(this.clock.now(), this.lastEpochMs);
      this.lastEpochMs = epochMs;
      this.sealed.push({ key: objectKeys.logChunk(this.options.botId, epochMs, this.seq++), body: Buffer.from(formatLogChunk(entries)) });
    }
  }

  private async ship(): Promise<boolean> {
    for (;;) {
      // New lines are sealed only once the previous chunks are stored, so that the memory cap
      // on pending lines holds while the store is down.
      if (this.sealed.length === 0) this.seal();
      const chunk = this.sealed[0];
      if (chunk === undefined) return true;
      try {
        await this.options.store.put(chunk.key, chunk.body, chunk.body.length, storeCallSignal(this.deadlineMs));
      } catch (err) {
        if (!this.failing) this.options.onTrouble?.(`log shipping failed, will retry: ${(err as Error).message}`);
        this.failing = true;
        this.retryAt = this.clock.now() + this.backoff.next();
        return false;
      }
      this.sealed.shift();
      if (this.failing) this.options.onTrouble?.('log shipping works again');
      this.failing = false;
      this.backoff.reset();
    }
  }
}
