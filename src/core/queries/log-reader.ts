/**
 * Reads a bot's log from its append-only NDJSON chunks (`logs/<id>/<day>/<epoch-ms>-<seq>.ndjson`,
 * DESIGN §4). Chunk names carry the time, so a read lists only the time it needs, newest
 * first (log-walk.ts): `tail` stops once it has enough, `since` at its UTC day, a run at its
 * start, and `follow` polls only the hours where new chunks can appear. Chunks that end
 * before `since` are skipped without being downloaded.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseLogChunk, type LogEntry } from '../../domain/logs.js';
import { objectKeys } from '../../domain/object-keys.js';
import type { Run } from '../../domain/run.js';
import type { ObjectStore } from '../../ports/objects.js';
import { BLOCK_MS, CHUNK_NAME, ChunkLister, DAY_MS, SHORT_BLOCK_MS, blockName, blocksCovering, type Block, type Chunk } from './log-chunks.js';
import { newestFirst, type ListingCache, type WalkBounds } from './log-walk.js';

export interface LogReadOptions {
  /** The last N entries (after the other filters). */
  readonly tail?: number;
  /** Entries at or after this time. */
  readonly since?: Date;
  /** Only the entries of one scheduled run. */
  readonly runId?: string;
  /**
   * When the entries were written (a run's lifetime, `runLogSpan`): chunks named outside it
   * are not looked for. It narrows what is listed, so it must hold every wanted entry.
   */
  readonly during?: LogSpan;
}

export interface LogSpan {
  readonly from: Date;
  /** Open: up to now. */
  readonly to?: Date;
}

export interface LogReaderOptions {
  readonly objects: ObjectStore;
  /** Upper bound on entries one read returns (the newest win). */
  readonly maxEntries?: number;
  /** A chunk bigger than this is not downloaded; a `berth` line says so instead. */
  readonly maxChunkBytes?: number;
  /** How often `follow` looks for new chunks. */
  readonly pollIntervalMs?: number;
  /** Now, which bounds the newest chunk looked for. */
  readonly clock?: () => Date;
}

export const LOG_READ_DEFAULTS = { maxEntries: 10_000, maxChunkBytes: 8 * 1024 * 1024, pollIntervalMs: 1000 } as const;

/**
 * How far a daemon's clock may run ahead of this process's. On the filesystem store both
 * are the host's clock; S3 refuses requests signed more than 15 minutes off its own time,
 * so two clocks that reach it are within 30 minutes of each other. Chunks named later than
 * this ahead of now are not found (before, every read listed them as the newest).
 */
export const CLOCK_AHEAD_MS = 30 * 60_000;

export class LogReader {
  private readonly objects: ObjectStore;
  private readonly lister: ChunkLister;
  private readonly maxEntries: number;
  private readonly maxChunkBytes: number;
  private readonly pollIntervalMs: number;
  private readonly clock: () => Date;

  constructor(options: LogReaderOptions) {
    this.objects = options.objects;
    this.lister = new ChunkLister(options.objects);
    this.maxEntries = options.maxEntries ?? LOG_READ_DEFAULTS.maxEntries;
    this.maxChunkBytes = options.maxChunkBytes ?? LOG_READ_DEFAULTS.maxChunkBytes;
    this.pollIntervalMs = options.pollIntervalMs ?? LOG_READ_DEFAULTS.pollIntervalMs;
    this.clock = options.clock ?? (() => new Date());
  }

  /** Whether the bot has any log chunk at all (a removed bot whose data was kept still has). */
  async exists(botId: string, signal?: AbortSignal): Promise<boolean> {
    for await (const info of this.objects.list(objectKeys.logsPrefix(botId), signal)) {
      if (CHUNK_NAME.test(info.key)) return true;
    }
    return false;
  }

  async read(botId: string, options: LogReadOptions = {}, signal?: AbortSignal): Promise<LogEntry[]> {
    return this.readNewest(botId, options, signal);
  }

  /**
   * What `read` returns, then every entry of chunks that appear later, until `signal`
   * aborts (the iteration then ends quietly). A chunk is named when the daemon seals it,
   * and one sealed while the store was down is uploaded late with an older name, so new
   * chunks are found by "not seen yet" rather than "after the last key".
   */
  async *follow(botId: string, options: LogReadOptions, signal: AbortSignal): AsyncGenerator<LogEntry> {
    try {
      const listed: ListingCache = new Map();
      // Listed before the read, so that what the polls find there at the start is known:
      // read, or older than the tail, never news. Recent blocks lie within these.
      for (const block of this.sweepBlocks(Number.NEGATIVE_INFINITY)) listed.set(blockName(block), await this.lister.block(botId, block, signal));
      const entries = await this.readNewest(botId, options, signal, listed);
      const seen = new SeenChunks([...listed.values()].flat());
      for (const block of this.sweepBlocks(seen.newest)) {
        if (listed.has(blockName(block))) continue;
        for (const chunk of await this.lister.block(botId, block, signal)) seen.add(chunk);
      }
      // A day of a busy bot is 43,000 chunks: not kept for as long as the follow lasts.
      listed.clear();
      yield* entries;
      for (let poll = 1; !signal.aborted; poll++) {
        await sleep(this.pollIntervalMs, undefined, { signal });
        const blocks = poll % SWEEP_EVERY_POLLS === 0 ? this.sweepBlocks(seen.newest) : this.recentBlocks();
        for (const block of blocks) {
          for (const chunk of await this.lister.block(botId, block, signal)) {
            if (!seen.isNew(chunk)) continue;
            yield* this.filter(await this.load(chunk, signal), options);
            seen.add(chunk);
          }
        }
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }

  /** Where a chunk shipped since the last poll is named: the last minute, or the next (clock skew). */
  private recentBlocks(): Block[] {
    const nowMs = this.clock().getTime();
    return blocksCovering(nowMs - RECENT_MS, nowMs + RECENT_MS, SHORT_BLOCK_MS);
  }

  /**
   * Every block a new chunk can still be in, oldest first: from an hour before the newest
   * chunk seen (a late one, see SeenChunks) to now, plus the clock allowance. When the
   * newest is older than an hour, the hour before now and the hour before it, not every
   * block in between.
   */
  private sweepBlocks(newestMs: number): Block[] {
    const nowMs = this.clock().getTime();
    const blocks = blocksCovering(Math.max(newestMs, nowMs - LATE_CHUNK_WINDOW_MS), nowMs + CLOCK_AHEAD_MS, BLOCK_MS);
    if (Number.isFinite(newestMs)) blocks.push(...blocksCovering(newestMs - LATE_CHUNK_WINDOW_MS, newestMs, BLOCK_MS));
    const byStart = new Map(blocks.map((b) => [b.start, b]));
    return [...byStart.values()].sort((a, b) => a.start - b.start);
  }

  private async readNewest(botId: string, options: LogReadOptions, signal?: AbortSignal, listed?: ListingCache): Promise<LogEntry[]> {
    const limit = Math.min(options.tail ?? this.maxEntries, this.maxEntries);
    if (limit <= 0) return [];
    const batches: LogEntry[][] = [];
    let count = 0;
    // The oldest chunk of the newer groups: what follows the newest chunk of the next group.
    let following: Chunk | undefined;
    for await (const group of newestFirst(this.lister, botId, this.bounds(options), signal, listed)) {
      const wanted = chunksFrom(group, options.since, following);
      for (let i = wanted.length - 1; i >= 0 && count < limit; i--) {
        const entries = this.filter(await this.load(wanted[i]!, signal), options);
        batches.push(entries);
        count += entries.length;
      }
      if (count >= limit) break;
      following = group[0] ?? following;
    }
    return batches.reverse().flat().slice(-limit);
  }

  /** The span of chunk names a read looks in. `since` counts by whole days: see chunksFrom. */
  private bounds({ since, during }: LogReadOptions): WalkBounds {
    const nowMs = this.clock().getTime();
    const to = during?.to?.getTime();
    const floors = [since ? Math.floor(since.getTime() / DAY_MS) * DAY_MS : Number.NaN, during?.from.getTime() ?? Number.NaN].filter(Number.isFinite);
    return {
      nowMs,
      newestMs: to !== undefined && Number.isFinite(to) ? Math.min(to, nowMs + CLOCK_AHEAD_MS) : nowMs + CLOCK_AHEAD_MS,
      ...(floors.length > 0 ? { floorMs: Math.max(...floors) } : {}),
    };
  }

  private filter(entries: LogEntry[], { since, runId }: LogReadOptions): LogEntry[] {
    const sinceMs = since?.getTime();
    return entries.filter((e) => {
      if (runId !== undefined && e.runId !== runId) return false;
      if (sinceMs === undefined) return true;
      const t = Date.parse(e.time);
      return Number.isNaN(t) || t >= sinceMs;
    });
  }

  private async load(chunk: Chunk, signal?: AbortSignal): Promise<LogEntry[]> {
    if (chunk.size > this.maxChunkBytes) {
      return [berthLine(chunk, `log chunk ${chunk.key} skipped: ${chunk.size} bytes is over the ${this.maxChunkBytes}-byte limit`)];
    }
    const body = await this.objects.get(chunk.key, signal);
    // Gone between list and get: the bot was removed meanwhile.
    return body ? parseLogChunk(body.toString('utf8')) : [];
  }
}

/**
 * The chunk keys a follower has delivered. Keys more than `LATE_CHUNK_WINDOW_MS` older
 * than the newest are forgotten (and chunks that old are no longer expected), so a long
 * follow does not grow without bound.
 */
class SeenChunks {
  private readonly keys = new Set<string>();
  private newestMs = Number.NEGATIVE_INFINITY;
  private addsSincePrune = 0;

  constructor(initial: readonly Chunk[]) {
    for (const chunk of initial) this.add(chunk);
  }

  /** The newest name time delivered or known at the start; -Infinity before any. */
  get newest(): number {
    return this.newestMs;
  }

  isNew(chunk: Chunk): boolean {
    if (this.keys.has(chunk.key)) return false;
    return Number.isNaN(chunk.epochMs) || chunk.epochMs >= this.newestMs - LATE_CHUNK_WINDOW_MS;
  }

  add(chunk: Chunk): void {
    this.keys.add(chunk.key);
    if (!Number.isNaN(chunk.epochMs)) this.newestMs = Math.max(this.newestMs, chunk.epochMs);
    if (++this.addsSincePrune >= 256) this.prune();
  }

  private prune(): void {
    this.addsSincePrune = 0;
    for (const key of this.keys) {
      const epochMs = Number(CHUNK_NAME.exec(key)?.[1] ?? Number.NaN);
      if (epochMs < this.newestMs - LATE_CHUNK_WINDOW_MS) this.keys.delete(key);
    }
  }
}

/** How late (by name time) a chunk may show up and still be followed. */
const LATE_CHUNK_WINDOW_MS = 60 * 60 * 1000;

/**
 * A poll lists the blocks of the last minute (a chunk is shipped within seconds of being
 * named); every SWEEP_EVERY_POLLS-th poll lists all of the late window instead, so a chunk
 * held back while the store was down arrives within that many polls. Listing the whole
 * window every second cost a fifth of a core on a busy bot's fs store.
 */
const RECENT_MS = 60_000;
const SWEEP_EVERY_POLLS = 30;

/**
 * Drops the chunks that cannot hold an entry at or after `since`. A chunk's name time is
 * when it was started or shipped; either way every entry of chunk i is older than the
 * name time of chunk i+1, so chunk i is skipped only when chunk i+1 began before `since`.
 * `following` is the chunk after the last one, when the chunks are one part of a listing.
 *
 * Reads do not list the days before since's UTC day at all: the daemon names a chunk when
 * it seals it, after its lines were read, so no entry there is at or after `since`.
 */
export function chunksFrom<C extends { epochMs: number }>(chunks: readonly C[], since: Date | undefined, following?: C): C[] {
  if (!since) return [...chunks];
  const sinceMs = since.getTime();
  return chunks.filter((_, i) => {
    const next = chunks[i + 1] ?? following;
    return next === undefined || Number.isNaN(next.epochMs) || next.epochMs >= sinceMs;
  });
}

/**
 * Where a run's lines can be: from its record's creation (before its container started)
 * to its end, each widened by the clock allowance (the record has the scheduler's clock,
 * chunk names the daemon's). Open while the run has not finished.
 */
export function runLogSpan(run: Pick<Run, 'createdAt' | 'finishedAt'>): LogSpan | undefined {
  const from = Date.parse(run.createdAt);
  if (Number.isNaN(from)) return undefined;
  const to = run.finishedAt === undefined ? Number.NaN : Date.parse(run.finishedAt);
  return { from: new Date(from - CLOCK_AHEAD_MS), ...(Number.isNaN(to) ? {} : { to: new Date(to + CLOCK_AHEAD_MS) }) };
}

function berthLine(chunk: Chunk, line: string): LogEntry {
  const time = Number.isNaN(chunk.epochMs) ? new Date(0) : new Date(chunk.epochMs);
  return { time: time.toISOString(), stream: 'berth', line };
}
