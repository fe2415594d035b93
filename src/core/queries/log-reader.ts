/**
 * Reads a bot's log from its append-only NDJSON chunks (`logs/<id>/<day>/<epoch-ms>-<seq>.ndjson`,
 * DESIGN §4). Chunk names carry the time, so chunks that end before `since` are skipped
 * without being downloaded, and `tail` reads chunks newest-first only until it has enough.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseLogChunk, type LogEntry } from '../../domain/logs.js';
import { objectKeys } from '../../domain/object-keys.js';
import type { ObjectInfo, ObjectStore } from '../../ports/objects.js';

export interface LogReadOptions {
  /** The last N entries (after the other filters). */
  readonly tail?: number;
  /** Entries at or after this time. */
  readonly since?: Date;
  /** Only the entries of one scheduled run. */
  readonly runId?: string;
}

export interface LogReaderOptions {
  readonly objects: ObjectStore;
  /** Upper bound on entries one read returns (the newest win). */
  readonly maxEntries?: number;
  /** A chunk bigger than this is not downloaded; a `berth` line says so instead. */
  readonly maxChunkBytes?: number;
  /** How often `follow` looks for new chunks. */
  readonly pollIntervalMs?: number;
}

interface Chunk {
  readonly key: string;
  readonly size: number;
  /** From the key name; NaN when the name does not carry it (never skipped then). */
  readonly epochMs: number;
}

export const LOG_READ_DEFAULTS = { maxEntries: 10_000, maxChunkBytes: 8 * 1024 * 1024, pollIntervalMs: 1000 } as const;

const CHUNK_NAME = /\/(\d{13})-\d+\.ndjson$/;

export class LogReader {
  private readonly objects: ObjectStore;
  private readonly maxEntries: number;
  private readonly maxChunkBytes: number;
  private readonly pollIntervalMs: number;

  constructor(options: LogReaderOptions) {
    this.objects = options.objects;
    this.maxEntries = options.maxEntries ?? LOG_READ_DEFAULTS.maxEntries;
    this.maxChunkBytes = options.maxChunkBytes ?? LOG_READ_DEFAULTS.maxChunkBytes;
    this.pollIntervalMs = options.pollIntervalMs ?? LOG_READ_DEFAULTS.pollIntervalMs;
  }

  /** Whether the bot has any log chunk at all (a removed bot whose data was kept still has). */
  async exists(botId: string, signal?: AbortSignal): Promise<boolean> {
    for await (const info of this.objects.list(objectKeys.logsPrefix(botId), signal)) {
      if (CHUNK_NAME.test(info.key)) return true;
    }
    return false;
  }

  async read(botId: string, options: LogReadOptions = {}, signal?: AbortSignal): Promise<LogEntry[]> {
    return this.readChunks(await this.listChunks(botId, signal), options, signal);
  }

  /**
   * What `read` returns, then every entry of chunks that appear later, until `signal`
   * aborts (the iteration then ends quietly). A chunk is named when the daemon seals it,
   * and one sealed while the store was down is uploaded late with an older name, so new
   * chunks are found by "not seen yet" rather than "after the last key".
   */
  async *follow(botId: string, options: LogReadOptions, signal: AbortSignal): AsyncGenerator<LogEntry> {
    try {
      const chunks = await this.listChunks(botId, signal);
      yield* await this.readChunks(chunks, options, signal);
      const seen = new SeenChunks(chunks);
      while (!signal.aborted) {
        await sleep(this.pollIntervalMs, undefined, { signal });
        for (const chunk of await this.listChunks(botId, signal)) {
          if (!seen.isNew(chunk)) continue;
          yield* this.filter(await this.load(chunk, signal), options);
          seen.add(chunk);
        }
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }

  private async readChunks(chunks: readonly Chunk[], options: LogReadOptions, signal?: AbortSignal): Promise<LogEntry[]> {
    const limit = Math.min(options.tail ?? this.maxEntries, this.maxEntries);
    if (limit <= 0) return [];
    const wanted = chunksFrom(chunks, options.since);
    const batches: LogEntry[][] = [];
    let count = 0;
    for (let i = wanted.length - 1; i >= 0 && count < limit; i--) {
      const entries = this.filter(await this.load(wanted[i]!, signal), options);
      batches.push(entries);
      count += entries.length;
    }
    return batches.reverse().flat().slice(-limit);
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

  private async listChunks(botId: string, signal?: AbortSignal): Promise<Chunk[]> {
    const chunks: Chunk[] = [];
    for await (const info of this.objects.list(objectKeys.logsPrefix(botId), signal)) {
      if (info.key.endsWith('.ndjson')) chunks.push(toChunk(info));
    }
    return chunks.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
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

function toChunk(info: ObjectInfo): Chunk {
  const match = CHUNK_NAME.exec(info.key);
  return { key: info.key, size: info.size, epochMs: match ? Number(match[1]) : Number.NaN };
}

/**
 * Drops the chunks that cannot hold an entry at or after `since`. A chunk's name time is
 * when it was started or shipped; either way every entry of chunk i is older than the
 * name time of chunk i+1, so chunk i is skipped only when chunk i+1 began before `since`.
 */
export function chunksFrom<C extends { epochMs: number }>(chunks: readonly C[], since: Date | undefined): C[] {
  if (!since) return [...chunks];
  const sinceMs = since.getTime();
  return chunks.filter((_, i) => {
    const next = chunks[i + 1];
    return next === undefined || Number.isNaN(next.epochMs) || next.epochMs >= sinceMs;
  });
}

function berthLine(chunk: Chunk, line: string): LogEntry {
  const time = Number.isNaN(chunk.epochMs) ? new Date(0) : new Date(chunk.epochMs);
  return { time: time.toISOString(), stream: 'berth', line };
}
