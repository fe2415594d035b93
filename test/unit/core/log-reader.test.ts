/**
 * LogReader over the real filesystem object store, with an injected clock: what a read
 * returns is what listing the whole history returned (checked against that, query by
 * query), and what it lists is only the time it needs — recorded by a wrapper over the
 * store's `list`.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsObjectStore } from '../../../src/adapters/objects/fs/fs-object-store.js';
import { LogReader, chunksFrom, runLogSpan, type LogReadOptions } from '../../../src/core/queries/log-reader.js';
import { formatLogChunk, parseLogChunk, type LogEntry } from '../../../src/domain/logs.js';
import { logDay, objectKeys } from '../../../src/domain/object-keys.js';
import type { ObjectStore } from '../../../src/ports/objects.js';
import { waitFor } from '../../support/wait.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const NOON = Date.parse('2026-03-31T12:00:00.000Z');

let dir: string;
let fs: FsObjectStore;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-log-reader-'));
  fs = new FsObjectStore(path.join(dir, 'objects'));
  await fs.init();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Listing {
  readonly prefix: string;
  /** How many objects the caller took before it stopped. */
  items: number;
}

/** The fs store, with every `list` call and how far it was consumed recorded, and every download. */
function recording(inner: ObjectStore): { store: ObjectStore; lists: Listing[]; gets: string[] } {
  const lists: Listing[] = [];
  const gets: string[] = [];
  const store = Object.create(inner) as ObjectStore;
  store.get = (key, signal) => {
    gets.push(key);
    return inner.get(key, signal);
  };
  store.list = (prefix, signal) => {
    const listing: Listing = { prefix, items: 0 };
    lists.push(listing);
    return (async function* () {
      for await (const info of inner.list(prefix, signal)) {
        listing.items++;
        yield info;
      }
    })();
  };
  return { store, lists, gets };
}

/** The UTC days whose folders were listed (whole or in part), and the whole-history listings. */
function listedDays(lists: readonly Listing[], botId: string): string[] {
  const prefix = objectKeys.logsPrefix(botId);
  return [...new Set(lists.filter((l) => l.prefix.length > prefix.length + 10).map((l) => l.prefix.slice(prefix.length, prefix.length + 10)))].sort();
}
function historyListings(lists: readonly Listing[], botId: string): Listing[] {
  return lists.filter((l) => l.prefix === objectKeys.logsPrefix(botId));
}

/**
 * One chunk as the daemon writes it: lines read up to 1.5 s before it is sealed and named.
 * Written as a plain file (what a put leaves behind), without a put's fsyncs: thousands of them.
 */
async function chunk(botId: string, sealedMs: number, seq: number, lines: number, extra: Partial<LogEntry> = {}): Promise<void> {
  const entries = Array.from({ length: lines }, (_, i) => ({ time: new Date(sealedMs - 1500 + i).toISOString(), stream: 'out' as const, line: `${seq}-${i}`, ...extra }));
  const file = path.join(fs.root, ...objectKeys.logChunk(botId, sealedMs, seq).split('/'));
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, formatLogChunk(entries));
}

/**
 * What every read returned before, from one listing of the whole history: chunksFrom over
 * all chunks, every entry filtered, the newest `limit`.
 */
async function wholeListing(botId: string): Promise<(options: LogReadOptions, maxEntries?: number) => LogEntry[]> {
  const chunks: { epochMs: number; entries: LogEntry[] }[] = [];
  for await (const info of fs.list(objectKeys.logsPrefix(botId))) {
    const m = /\/(\d{13})-\d+\.ndjson$/.exec(info.key);
    chunks.push({ epochMs: m ? Number(m[1]) : Number.NaN, entries: parseLogChunk((await fs.get(info.key))!.toString('utf8')) });
  }
  return (options, maxEntries = 10_000) => {
    const limit = Math.min(options.tail ?? maxEntries, maxEntries);
    if (limit <= 0) return [];
    const sinceMs = options.since?.getTime() ?? Number.NEGATIVE_INFINITY;
    const entries = chunksFrom(chunks, options.since)
      .flatMap((c) => c.entries)
      .filter((e) => (options.runId === undefined || e.runId === options.runId) && !(Date.parse(e.time) < sinceMs));
    return entries.slice(-limit);
  };
}

async function fromWholeListing(botId: string, options: LogReadOptions): Promise<LogEntry[]> {
  return (await wholeListing(botId))(options);
}

/** Writes many chunks, a few at a time. */
async function chunks(botId: string, sealed: readonly number[], lines = 1): Promise<void> {
  for (let i = 0; i < sealed.length; i += 32) {
    await Promise.all(sealed.slice(i, i + 32).map((ms, j) => chunk(botId, ms, i + j, lines)));
  }
}

/**
 * A history with what makes day walking hard: a chunk 45 days back (beyond the default
 * retention), a gap of empty weeks, chunks on both sides of two midnights, busy days, two
 * runs, and today's chunks in several blocks.
 */
async function history(botId: string, now: number): Promise<void> {
  const today = Math.floor(now / DAY) * DAY;
  let seq = 0;
  await chunk(botId, today - 45 * DAY + 5 * HOUR, seq++, 3);
  for (const ms of [today - 10 * DAY - 400, today - 10 * DAY - 1, today - 10 * DAY, today - 10 * DAY + 300]) await chunk(botId, ms, seq++, 2);
  for (let i = 0; i < 12; i++) await chunk(botId, today - 3 * DAY + i * 2 * HOUR, seq++, 4, { runId: i % 2 ? 'r1' : 'r2' });
  for (const ms of [today - 2 * HOUR, today - 2000, today - 1, today + 1, today + 1500]) await chunk(botId, ms, seq++, 2);
  for (let ms = today + 2000; ms < now; ms += 37 * 60_000) await chunk(botId, ms, seq++, 3);
}

describe('LogReader reads what the whole listing read', () => {
  for (const [label, now] of [
    ['at noon', NOON],
    ['just after midnight (the newest blocks span it)', Date.parse('2026-03-31T00:40:00.000Z')],
  ] as const) {
    it(`for every tail, since and run id, ${label}`, async () => {
      await history('b', now);
      const reader = new LogReader({ objects: fs, clock: () => new Date(now) });
      const capped = new LogReader({ objects: fs, clock: () => new Date(now), maxEntries: 7 });
      const today = Math.floor(now / DAY) * DAY;
      const whole = await wholeListing('b');
      const sinces = [undefined, new Date(0), new Date(now - HOUR), new Date(today), new Date(today - 1), new Date(today + 1200), new Date(today - 10 * DAY), new Date(today - 3 * DAY + 5 * HOUR), new Date(today - 45 * DAY), new Date(now + DAY)];
      let compared = 0;
      for (const tail of [undefined, 0, 1, 3, 9, 40]) {
        for (const since of sinces) {
          for (const runId of [undefined, 'r1', 'nope']) {
            const options: LogReadOptions = { ...(tail !== undefined ? { tail } : {}), ...(since ? { since } : {}), ...(runId ? { runId } : {}) };
            const what = JSON.stringify(options);
            expect(await reader.read('b', options), what).toEqual(whole(options));
            if (tail === undefined || tail > 7) expect(await capped.read('b', options), `capped ${what}`).toEqual(whole(options, 7));
            compared++;
          }
        }
      }
      expect(compared).toBe(180);
    }, 60_000);
  }

  it('a bot without logs reads nothing after a few short listings', async () => {
    const { store, lists } = recording(fs);
    expect(await new LogReader({ objects: store, clock: () => new Date(NOON) }).read('none', { tail: 10 })).toEqual([]);
    expect(lists.length).toBeLessThanOrEqual(5);
    expect(lists.reduce((n, l) => n + l.items, 0)).toBe(0);
  });
});

describe('LogReader lists only what it needs', () => {
  /** 30 days of a bot: a chunk every 2 hours, and one every 2 s in the last 10 minutes. */
  async function busyMonth(botId: string, now: number): Promise<void> {
    const sealed: number[] = [];
    for (let ms = now - 30 * DAY; ms < now - 10 * 60_000; ms += 2 * HOUR) sealed.push(ms);
    for (let ms = now - 10 * 60_000; ms < now; ms += 2000) sealed.push(ms);
    await chunks(botId, sealed);
  }

  it('tail: the newest block of today, nothing else', async () => {
    await busyMonth('busy', NOON);
    const { store, lists } = recording(fs);
    const reader = new LogReader({ objects: store, clock: () => new Date(NOON) });
    expect(await reader.read('busy', { tail: 100 })).toEqual(await fromWholeListing('busy', { tail: 100 }));
    expect(listedDays(lists, 'busy')).toEqual(['2026-03-31']);
    expect(historyListings(lists, 'busy')).toEqual([]);
    // Blocks, not the whole day: the day's chunks before the newest block are never listed.
    expect(lists.every((l) => l.prefix.length > objectKeys.logDayPrefix('busy', '2026-03-31').length)).toBe(true);
    expect(lists.reduce((n, l) => n + l.items, 0)).toBeLessThan(400);
  });

  it('a tail longer than today lists today and yesterday whole, and no older day', async () => {
    await busyMonth('busy', NOON);
    const { store, lists } = recording(fs);
    const reader = new LogReader({ objects: store, clock: () => new Date(NOON) });
    const tail = 300 + 6 + 4; // the busy 10 minutes, the rest of today (00:00 to 10:00), four from yesterday
    expect(await reader.read('busy', { tail })).toEqual(await fromWholeListing('busy', { tail }));
    expect(listedDays(lists, 'busy')).toEqual(['2026-03-30', '2026-03-31']);
    expect(historyListings(lists, 'busy')).toEqual([]);
  });

  it('since: the days from its UTC day on', async () => {
    await busyMonth('busy', NOON);
    const { store, lists } = recording(fs);
    const reader = new LogReader({ objects: store, clock: () => new Date(NOON) });
    const since = new Date(Date.parse('2026-03-27T15:00:00.000Z'));
    expect(await reader.read('busy', { since })).toEqual(await fromWholeListing('busy', { since }));
    expect(listedDays(lists, 'busy')).toEqual(['2026-03-27', '2026-03-28', '2026-03-29', '2026-03-30', '2026-03-31']);
    expect(historyListings(lists, 'busy')).toEqual([]);
  });

  it('since inside a block downloads what the whole listing did: not the chunk before the one it falls in', async () => {
    const blockStart = Date.parse('2026-03-31T09:40:00.000Z'); // a multiple of 10^7 ms
    await chunks('edge', [blockStart - 2000, blockStart + 1000, blockStart + 3000, NOON - 60_000], 2);
    const { store, gets } = recording(fs);
    const reader = new LogReader({ objects: store, clock: () => new Date(NOON) });
    const since = new Date(blockStart + 2000);
    expect(await reader.read('edge', { since })).toEqual(await fromWholeListing('edge', { since }));
    expect(gets.map((k) => /(\d{13})-\d+\.ndjson$/.exec(k)?.[1])).toEqual([NOON - 60_000, blockStart + 3000, blockStart + 1000].map(String));
  });

  it('the default read of a bot with fewer lines than the cap goes back to its oldest day and stops there', async () => {
    let seq = 0;
    for (const back of [6, 5, 3, 2, 1, 0]) await chunk('few', NOON - back * DAY - HOUR, seq++, 2);
    const { store, lists } = recording(fs);
    const reader = new LogReader({ objects: store, clock: () => new Date(NOON) });
    expect(await reader.read('few')).toEqual(await fromWholeListing('few', {}));
    expect(listedDays(lists, 'few')).toEqual(['2026-03-25', '2026-03-26', '2026-03-27', '2026-03-28', '2026-03-29', '2026-03-30', '2026-03-31']);
    // The oldest day, learned from the first key of the history: one object taken.
    expect(historyListings(lists, 'few').map((l) => l.items)).toEqual([1]);
  });

  it('finds logs far beyond 30 days across months of empty days, a month at a time', async () => {
    await chunk('old', Date.parse('2025-06-10T08:00:00.000Z'), 0, 2);
    await chunk('old', Date.parse('2025-11-03T08:00:00.000Z'), 1, 2);
    const { store, lists } = recording(fs);
    const reader = new LogReader({ objects: store, clock: () => new Date(NOON) });
    expect((await reader.read('old', { tail: 3 })).map((e) => e.line)).toEqual(['0-1', '1-0', '1-1']);
    expect(await reader.read('old')).toEqual(await fromWholeListing('old', {}));
    lists.length = 0;
    await reader.read('old', { tail: 3 });
    // Nearly 10 months back: a few days, one probe per month, the days of the two months with logs.
    expect(listedDays(lists, 'old').length).toBeLessThan(70);
    expect(lists.length).toBeLessThan(90);
    expect(historyListings(lists, 'old').every((l) => l.items <= 1)).toBe(true);
  });

  it('a gap of empty days between today and older logs', async () => {
    await chunk('gap', NOON - 20 * DAY, 0, 3);
    await chunk('gap', NOON - 19 * DAY, 1, 3);
    await chunk('gap', NOON - HOUR, 2, 1);
    const { store, lists } = recording(fs);
    const reader = new LogReader({ objects: store, clock: () => new Date(NOON) });
    expect((await reader.read('gap', { tail: 4 })).map((e) => e.line)).toEqual(['1-0', '1-1', '1-2', '2-0']);
    expect(await reader.read('gap', { tail: 7 })).toEqual(await fromWholeListing('gap', { tail: 7 }));
    expect(historyListings(lists, 'gap').every((l) => l.items <= 1)).toBe(true);
    expect(listedDays(lists, 'gap')).not.toContain(logDay(NOON - 21 * DAY));
  });

  it('exists takes one key', async () => {
    await busyMonth('busy', NOON);
    const { store, lists } = recording(fs);
    expect(await new LogReader({ objects: store }).exists('busy')).toBe(true);
    expect(lists).toEqual([{ prefix: 'logs/busy/', items: 1 }]);
    expect(await new LogReader({ objects: store }).exists('nobody')).toBe(false);
  });

  it('a run span: only the days of the run', async () => {
    await busyMonth('sched', NOON);
    const runStart = Date.parse('2026-03-20T23:50:00.000Z');
    for (let i = 0; i < 5; i++) await chunk('sched', runStart + i * 5 * 60_000, 100_000 + i, 2, { runId: 'r20' });
    const span = runLogSpan({ createdAt: new Date(runStart - 5000).toISOString(), finishedAt: new Date(runStart + 21 * 60_000).toISOString() });
    expect(span).toBeDefined();
    const { store, lists } = recording(fs);
    const reader = new LogReader({ objects: store, clock: () => new Date(NOON) });
    const options = { runId: 'r20', during: span! };
    const entries = await reader.read('sched', options);
    expect(entries).toEqual(await fromWholeListing('sched', { runId: 'r20' }));
    expect(entries).toHaveLength(10);
    expect(listedDays(lists, 'sched')).toEqual(['2026-03-20', '2026-03-21']);
    expect(historyListings(lists, 'sched')).toEqual([]);
    // A run still going: open to now.
    expect(runLogSpan({ createdAt: '2026-03-31T11:00:00.000Z' })).toEqual({ from: new Date('2026-03-31T10:30:00.000Z') });
    expect(runLogSpan({ createdAt: 'garbage' })).toBeUndefined();
  });
});

describe('LogReader.follow polls only the newest hours', () => {
  async function following(reader: LogReader, botId: string, options: LogReadOptions = {}) {
    const controller = new AbortController();
    const seen: string[] = [];
    const done = (async () => {
      for await (const e of reader.follow(botId, options, controller.signal)) seen.push(e.line);
    })();
    return { seen, stop: async () => (controller.abort(), await done) };
  }

  it('at noon: blocks of today; new and late chunks arrive, once each', async () => {
    let now = NOON;
    await chunk('f', NOON - 40 * DAY, 0, 1);
    await chunk('f', NOON - 5000, 1, 2);
    const { store, lists } = recording(fs);
    const reader = new LogReader({ objects: store, clock: () => new Date(now), pollIntervalMs: 10 });
    const f = await following(reader, 'f', { tail: 1 });
    await waitFor('the tail', () => f.seen.length === 1);
    expect(f.seen).toEqual(['1-1']);
    const polled = lists.length;
    await waitFor('a few polls', () => lists.length > polled + 6);
    const polls = lists.slice(polled);
    expect(listedDays(polls, 'f')).toEqual(['2026-03-31']);
    // Blocks only: 7 digits (1000 s, every poll) or 6 (10,000 s, every 30th poll).
    expect(polls.every((l) => /^logs\/f\/2026-03-31\/\d{6,7}$/.test(l.prefix)), polls.map((l) => l.prefix).join(' ')).toBe(true);
    expect(polls.filter((l) => /\/\d{7}$/.test(l.prefix)).length).toBeGreaterThan(polls.length / 2);

    now = NOON + 10_000;
    await chunk('f', NOON + 9000, 2, 1);
    await waitFor('the new chunk', () => f.seen.length === 2);
    // Sealed while the store was down: an older name than the newest, uploaded later.
    await chunk('f', NOON - 3000, 3, 1);
    await waitFor('the late chunk', () => f.seen.length === 3);
    await new Promise((r) => setTimeout(r, 50));
    expect(f.seen).toEqual(['1-1', '2-0', '3-0']);
    await f.stop();
  });

  it('just after midnight: yesterday too, for chunks sealed before it and uploaded after', async () => {
    const midnight = Date.parse('2026-03-31T00:00:00.000Z');
    let now = midnight + 20 * 60_000;
    await chunk('m', midnight - 30 * 60_000, 0, 1);
    await chunk('m', midnight + 10 * 60_000, 1, 1);
    const { store, lists } = recording(fs);
    const reader = new LogReader({ objects: store, clock: () => new Date(now), pollIntervalMs: 10 });
    const f = await following(reader, 'm');
    await waitFor('the existing lines', () => f.seen.length === 2);
    const polled = lists.length;
    await chunk('m', midnight - 5 * 60_000, 2, 1);
    await waitFor('the late chunk of yesterday', () => f.seen.length === 3);
    expect(listedDays(lists.slice(polled), 'm')).toEqual(['2026-03-30', '2026-03-31']);

    // Later, once the newest chunk is more than an hour after midnight and the block that
    // spans midnight (22:33:20–01:20 here), yesterday is no longer polled.
    now = midnight + 4 * HOUR + 30 * 60_000;
    await chunk('m', midnight + 4 * HOUR, 3, 1);
    await waitFor('the chunk at two', () => f.seen.length === 4);
    const later = lists.length;
    await waitFor('a few more polls', () => lists.length > later + 6);
    expect(listedDays(lists.slice(later), 'm')).toEqual(['2026-03-31']);
    expect(f.seen).toEqual(['0-0', '1-0', '2-0', '3-0']);
    await f.stop();
  });
});
