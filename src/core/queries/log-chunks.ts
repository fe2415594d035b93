/**
 * Where a bot's log chunks are found without listing its whole history. A chunk's key
 * (`logs/<id>/<YYYY-MM-DD>/<epoch-ms, 13 digits>-<seq>.ndjson`, DESIGN §4) names the time it
 * was sealed twice: the UTC day folder and the epoch digits. So two kinds of prefix select
 * a span of time: a day folder, and within it the first digits of the name — a "block" of
 * 10^7 or 10^6 ms, for the newest hours or minutes of a day that holds up to 43,000 chunks. Object store
 * prefixes are plain string prefixes of keys (S3's, and the filesystem store's), so a block
 * costs one short listing on S3 and no stat of the rest of the day on the filesystem.
 */
import { logDay, logDayOfKey, objectKeys } from '../../domain/object-keys.js';
import type { ObjectInfo, ObjectStore } from '../../ports/objects.js';

export interface Chunk {
  readonly key: string;
  readonly size: number;
  /** From the key name; NaN when the name does not carry it (never skipped then). */
  readonly epochMs: number;
}

export const CHUNK_NAME = /\/(\d{13})-\d+\.ndjson$/;

/** 10^7 ms (2 h 46 min 40 s): the chunk names in one block share their first 6 of 13 digits. */
export const BLOCK_MS = 10_000_000;
/** 10^6 ms (16 min 40 s), 7 digits: what `follow` lists every second. */
export const SHORT_BLOCK_MS = 1_000_000;
const BLOCK_DIGITS: ReadonlyMap<number, number> = new Map([
  [BLOCK_MS, 6],
  [SHORT_BLOCK_MS, 7],
]);

export const DAY_MS = 86_400_000;

/** The chunks named in [start, start + size); `size` is BLOCK_MS or SHORT_BLOCK_MS, `start` a multiple of it. */
export interface Block {
  readonly start: number;
  readonly size: number;
}

/** The blocks of one size that cover [fromMs, toMs], oldest first; none when toMs < fromMs. */
export function blocksCovering(fromMs: number, toMs: number, size: number): Block[] {
  const blocks: Block[] = [];
  for (let start = Math.floor(Math.max(0, fromMs) / size) * size; start <= toMs; start += size) blocks.push({ start, size });
  return blocks;
}

/** Names a listing for a cache of listings. */
export function blockName(block: Block): string {
  return `block ${block.start}+${block.size}`;
}

export function toChunk(info: ObjectInfo): Chunk {
  const match = CHUNK_NAME.exec(info.key);
  return { key: info.key, size: info.size, epochMs: match ? Number(match[1]) : Number.NaN };
}

/** Lists chunks by day, by block, and finds the oldest day under a prefix. */
export class ChunkLister {
  constructor(private readonly objects: Pick<ObjectStore, 'list'>) {}

  /** The chunks of one UTC day, in key order. */
  day(botId: string, day: string, signal?: AbortSignal): Promise<Chunk[]> {
    return this.chunksUnder(objectKeys.logDayPrefix(botId, day), signal);
  }

  /**
   * The chunks named in one block, in key order. A block that spans midnight lies in two
   * day folders (86,400,000 is no multiple of 10^7 or 10^6), so it is one listing per day it touches.
   */
  async block(botId: string, block: Block, signal?: AbortSignal): Promise<Chunk[]> {
    const digits = BLOCK_DIGITS.get(block.size);
    if (digits === undefined || block.start % block.size !== 0) throw new RangeError(`not a block: ${block.start}+${block.size}`);
    const name = String(block.start).padStart(13, '0').slice(0, digits);
    const days = [...new Set([logDay(block.start), logDay(block.start + block.size - 1)])];
    const parts: Chunk[][] = [];
    for (const day of days) parts.push(await this.chunksUnder(objectKeys.logDayPrefix(botId, day) + name, signal));
    return parts.flat();
  }

  /**
   * The oldest day folder whose name starts with `dayPrefix` ('' for any, '2025-03-' for a
   * month), or null. The store lists in key order, so it is the first key in a day folder:
   * one page, however long the history.
   */
  async firstDay(botId: string, dayPrefix: string, signal?: AbortSignal): Promise<string | null> {
    for await (const info of this.objects.list(objectKeys.logsPrefix(botId) + dayPrefix, signal)) {
      const day = logDayOfKey(botId, info.key);
      if (day !== undefined) return day;
    }
    return null;
  }

  private async chunksUnder(prefix: string, signal: AbortSignal | undefined): Promise<Chunk[]> {
    const chunks: Chunk[] = [];
    for await (const info of this.objects.list(prefix, signal)) {
      if (info.key.endsWith('.ndjson')) chunks.push(toChunk(info));
    }
    return chunks.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}

/** The day number (days since the epoch) of a YYYY-MM-DD day, and back. */
export function dayNumber(day: string): number {
  return Date.parse(`${day}T00:00:00.000Z`) / DAY_MS;
}

export function dayOfNumber(n: number): string {
  return logDay(n * DAY_MS);
}

/** The day number of the last day of the month before `day`'s. */
export function lastDayOfPreviousMonth(day: string): number {
  const [year, month] = day.split('-').map(Number) as [number, number];
  return Date.UTC(year, month - 1, 1) / DAY_MS - 1;
}
