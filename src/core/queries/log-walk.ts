/**
 * A bot's log chunks newest first, listed only as far back as the reader goes: first the
 * newest blocks (log-chunks.ts), then whole UTC days, each once. A read that stops after
 * the newest 100 lines lists an hour or so of chunks, not the bot's 30 days.
 *
 * How far back: to the floor the caller gives (since's day, a run's start) and never past
 * the bot's oldest day. That one is learned from the first key of the whole listing (the
 * store lists in key order, so it costs one page) — only once the walk meets an empty day,
 * as a dense history ends the walk by filling the read first. A run of empty days (a bot
 * that was stopped for a while) is crossed a month at a time: the first key under the
 * month's prefix says whether anything is left in it.
 */
import { BLOCK_MS, DAY_MS, blockName, dayNumber, dayOfNumber, lastDayOfPreviousMonth, type Chunk, type ChunkLister } from './log-chunks.js';

export interface WalkBounds {
  /** Now: days after today do not count as a gap. */
  readonly nowMs: number;
  /** No chunk named later is looked for. */
  readonly newestMs: number;
  /** Nothing named before this is looked for; undefined: back to the bot's oldest day. */
  readonly floorMs?: number;
}

/** Listings already made (by `follow`, which needs them again), by what was listed. */
export type ListingCache = Map<string, readonly Chunk[]>;

/** Blocks listed before whole days: 5.5 h, enough for most tails of a chatty bot. */
const RECENT_BLOCKS = 2;
/** Empty days in a row after which the walk looks for the oldest day and skips empty months. */
const GAP_DAYS = 3;

/**
 * Groups of chunks, newest group first, each group in key order; together, in reverse, the
 * chunks named in [floor, newest] in key order. Stop iterating once satisfied.
 */
export async function* newestFirst(
  lister: ChunkLister,
  botId: string,
  bounds: WalkBounds,
  signal?: AbortSignal,
  cache?: ListingCache,
): AsyncGenerator<readonly Chunk[]> {
  const floorMs = Math.max(0, bounds.floorMs ?? 0);
  // Chunks named at or after this have been yielded.
  let handledFrom = (Math.floor(bounds.newestMs / BLOCK_MS) + 1) * BLOCK_MS;
  for (let n = 0; n < RECENT_BLOCKS && handledFrom > floorMs; n++) {
    const block = { start: handledFrom - BLOCK_MS, size: BLOCK_MS };
    yield await cached(cache, blockName(block), () => lister.block(botId, block, signal));
    handledFrom = block.start;
  }
  if (handledFrom <= floorMs) return;
  const range = { first: Math.floor((handledFrom - 1) / DAY_MS), floor: Math.floor(floorMs / DAY_MS), today: Math.floor(bounds.nowMs / DAY_MS) };
  const days = wholeDays(lister, botId, range, signal, cache);
  let isFirst = true;
  for await (const chunks of days) {
    // The newest day's chunks from the blocks are already out.
    yield isFirst ? chunks.filter((c) => !(c.epochMs >= handledFrom)) : chunks;
    isFirst = false;
  }
}

interface DayRange {
  /** Day numbers (days since the epoch). */
  readonly first: number;
  readonly floor: number;
  readonly today: number;
}

/** Whole days from `first` down to `floor` or the bot's oldest day, crossing empty months. */
async function* wholeDays(lister: ChunkLister, botId: string, range: DayRange, signal: AbortSignal | undefined, cache: ListingCache | undefined): AsyncGenerator<readonly Chunk[]> {
  let floor = range.floor;
  let knowsOldest = false;
  let emptyDays = 0;
  const monthStarts = new Map<string, number | null>();
  for (let n = range.first; n >= floor; ) {
    const day = dayOfNumber(n);
    if (emptyDays > 0 && !knowsOldest && n - floor > GAP_DAYS) {
      knowsOldest = true;
      const oldest = await lister.firstDay(botId, '', signal);
      if (oldest === null) return;
      floor = Math.max(floor, dayNumber(oldest));
      continue;
    }
    if (emptyDays >= GAP_DAYS) {
      const month = day.slice(0, 8);
      if (!monthStarts.has(month)) monthStarts.set(month, dayNumberOrNull(await lister.firstDay(botId, month, signal)));
      const oldestInMonth = monthStarts.get(month) ?? null;
      if (oldestInMonth === null || oldestInMonth > n) {
        n = lastDayOfPreviousMonth(day);
        continue;
      }
    }
    const chunks = await cached(cache, `day ${day}`, () => lister.day(botId, day, signal));
    yield chunks;
    if (chunks.length > 0) emptyDays = 0;
    else if (n <= range.today) emptyDays++;
    n--;
  }
}

function dayNumberOrNull(day: string | null): number | null {
  return day === null ? null : dayNumber(day);
}

async function cached(cache: ListingCache | undefined, what: string, list: () => Promise<readonly Chunk[]>): Promise<readonly Chunk[]> {
  const hit = cache?.get(what);
  if (hit) return hit;
  const chunks = await list();
  cache?.set(what, chunks);
  return chunks;
}
