/**
 * Row 10, "logs tail=100 on the filesystem store: 1 vs N days of 40,000 chunks": a bot that
 * prints all the time leaves a chunk every ~2 s, 40,000 a day. Two bots on one fs object
 * store, one with a single such day and one with N (20; 5 with --quick), read as
 * `GET …/logs?tail=100` reads them: LogReader.read, and side by side, in the same run and
 * alternating with it, what every read did before — list all of `logs/<id>/`, then read the
 * newest chunks. Also what a follow costs: the CPU of this process while one LogReader.follow
 * of the N-day bot polls once a second. No Docker; the chunks are written as plain files.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { FsObjectStore } from '../../src/adapters/objects/fs/fs-object-store.js';
import { LogReader } from '../../src/core/queries/log-reader.js';
import { formatLogChunk, parseLogChunk, type LogEntry } from '../../src/domain/logs.js';
import { logDay, objectKeys } from '../../src/domain/object-keys.js';
import type { Cleanup } from '../lib/cleanup.js';
import type { Row } from '../lib/report.js';
import { median, ms, ratio, round } from '../lib/stats.js';

export const LOG_TAIL_ROW = { key: 'log-tail', title: '10. logs tail=100, fs store, 1 vs N days of 40,000 chunks', goal: 'measured; N days as fast as 1' } as const;

const CHUNKS_PER_DAY = 40_000;
const TAIL = 100;
const DAY_MS = 86_400_000;
/** The end of the newest day: its whole 40,000 chunks are there (the worst time of day to read). */
const NOW = Date.parse('2026-03-31T23:59:59.000Z');
/** Long enough for a sweep of the late window (every 30th poll) besides the per-second polls. */
const FOLLOW_SECONDS = 31;

/** Writes `days` days of chunks ending at NOW, one line each, a few hundred files at a time. */
async function writeDays(root: string, botId: string, days: number): Promise<void> {
  const step = DAY_MS / CHUNKS_PER_DAY;
  for (let d = days - 1; d >= 0; d--) {
    const dayStart = Math.floor(NOW / DAY_MS) * DAY_MS - d * DAY_MS;
    await mkdir(join(root, ...objectKeys.logDayPrefix(botId, logDay(dayStart)).split('/')), { recursive: true });
    for (let i = 0; i < CHUNKS_PER_DAY; i += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, CHUNKS_PER_DAY - i) }, (_, j) => {
          const sealed = Math.round(dayStart + (i + j) * step);
          const entry: LogEntry = { time: new Date(sealed - 1000).toISOString(), stream: 'out', line: `tick ${d}-${i + j}` };
          return writeFile(join(root, ...objectKeys.logChunk(botId, sealed, i + j).split('/')), formatLogChunk([entry]));
        }),
      );
    }
  }
}

/** What a tail read did before: the whole history listed and sorted, then the newest chunks read. */
async function tailFromWholeListing(store: FsObjectStore, botId: string, tail: number): Promise<LogEntry[]> {
  const keys: string[] = [];
  for await (const info of store.list(objectKeys.logsPrefix(botId))) if (info.key.endsWith('.ndjson')) keys.push(info.key);
  keys.sort();
  const batches: LogEntry[][] = [];
  let count = 0;
  for (let i = keys.length - 1; i >= 0 && count < tail; i--) {
    const entries = parseLogChunk((await store.get(keys[i]!))!.toString('utf8'));
    batches.push(entries);
    count += entries.length;
  }
  return batches.reverse().flat().slice(-tail);
}

async function timed(fn: () => Promise<LogEntry[]>): Promise<{ ms: number; lines: string[] }> {
  const began = performance.now();
  const entries = await fn();
  return { ms: performance.now() - began, lines: entries.map((e) => e.line) };
}

/** This process's CPU (user + system) per second of wall time while one follow polls. */
async function followCpu(reader: LogReader, botId: string): Promise<number> {
  const controller = new AbortController();
  let first: () => void;
  const started = new Promise<void>((resolve) => (first = resolve));
  const done = (async () => {
    for await (const _ of reader.follow(botId, { tail: TAIL }, controller.signal)) first!();
  })();
  await started;
  const cpu = process.cpuUsage();
  const began = performance.now();
  await new Promise((r) => setTimeout(r, FOLLOW_SECONDS * 1000));
  const used = process.cpuUsage(cpu);
  const wall = performance.now() - began;
  controller.abort();
  await done;
  return (used.user + used.system) / 1000 / wall;
}

export async function logTailRow(cleanup: Cleanup, say: (line: string) => void, days: number, runs: number): Promise<Row> {
  const dir = await mkdtemp(join(os.tmpdir(), 'berth-bench-logs-'));
  cleanup.add('files', `remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  const store = new FsObjectStore(join(dir, 'objects'));
  await store.init();
  say(`log-tail: writing 1 + ${days} days of ${CHUNKS_PER_DAY} chunks (${(1 + days) * CHUNKS_PER_DAY} files)`);
  const writeBegan = performance.now();
  await writeDays(store.root, 'one-day', 1);
  await writeDays(store.root, 'many-days', days);
  say(`log-tail: written in ${((performance.now() - writeBegan) / 1000).toFixed(0)} s; ${runs} reads of each kind per bot, alternating`);

  const reader = new LogReader({ objects: store, clock: () => new Date(NOW) });
  const samples = { oneNew: [] as number[], oneOld: [] as number[], manyNew: [] as number[], manyOld: [] as number[] };
  let identical = true;
  for (let i = 0; i < runs; i++) {
    for (const [botId, fresh, old] of [
      ['one-day', samples.oneNew, samples.oneOld],
      ['many-days', samples.manyNew, samples.manyOld],
    ] as const) {
      const a = await timed(() => reader.read(botId, { tail: TAIL }));
      const b = await timed(() => tailFromWholeListing(store, botId, TAIL));
      fresh.push(a.ms);
      old.push(b.ms);
      identical &&= a.lines.length === TAIL && JSON.stringify(a.lines) === JSON.stringify(b.lines);
    }
  }
  const cpu = await followCpu(new LogReader({ objects: store, clock: () => new Date(NOW) }), 'many-days');
  const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)])) as Record<keyof typeof samples, number>;
  return {
    key: LOG_TAIL_ROW.key,
    title: LOG_TAIL_ROW.title.replace('N days', `${days} days`),
    result: `day-walk: 1 day ${ms(m.oneNew)}, ${days} days ${ms(m.manyNew)} (median, n=${runs})`,
    sideBySide: `whole listing: 1 day ${ms(m.oneOld)}, ${days} days ${ms(m.manyOld)}; ${days} days ${ratio(m.manyOld / m.manyNew)} faster`,
    goal: LOG_TAIL_ROW.goal,
    verdict: identical && m.manyNew < 2 * m.oneNew ? 'met' : 'MISSED',
    details: [
      `${CHUNKS_PER_DAY} chunks per UTC day (one line each, ~2.2 s apart), read at the end of the newest day (${new Date(NOW).toISOString()}), when that day is full; files written directly, ${days + 1} days.`,
      `LogReader.read(id, {tail: ${TAIL}}) against the previous approach (list all of logs/<id>/, sort, read newest first), alternating, on the same FsObjectStore (its list as of this row, itself 2–4× faster than before); both return the same ${TAIL} lines: ${identical ? 'yes' : 'NO'}.`,
      `follow of the ${days}-day bot (tail ${TAIL}, a poll a second, the late window every 30th): ${(cpu * 100).toFixed(1)}% of a core over ${FOLLOW_SECONDS} s; before, every poll listed the whole history (${ms(m.manyOld)} above), longer than the poll interval.`,
    ],
    figures: {
      chunksPerDay: CHUNKS_PER_DAY,
      days,
      runs,
      tail: TAIL,
      identical,
      oneDayMedianMs: round(m.oneNew, 1),
      manyDaysMedianMs: round(m.manyNew, 1),
      oneDayWholeListingMedianMs: round(m.oneOld, 1),
      manyDaysWholeListingMedianMs: round(m.manyOld, 1),
      followCpuShare: round(cpu, 3),
      samplesMs: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, v.map((x) => round(x, 1))])),
    },
  };
}
