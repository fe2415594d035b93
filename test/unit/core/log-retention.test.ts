/**
 * Log retention over the real embedded adapters (SQLite store, directory object store),
 * with time injected: whole UTC days older than the retention go, everything newer and
 * every other area stays, and the timer sweeps on its own.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openObjectStore } from '../../../src/adapters/objects/open.js';
import { openStore } from '../../../src/adapters/store/open.js';
import { LogRetention } from '../../../src/core/log-retention.js';
import { silentLogger } from '../../../src/core/logger.js';
import { objectKeys } from '../../../src/domain/object-keys.js';
import type { ObjectStore } from '../../../src/ports/objects.js';
import type { DesiredStateStore } from '../../../src/ports/store.js';
import { waitFor } from '../../support/wait.js';
import { FakeClock } from './support/fake-clock.js';
import { makeBot } from './support/bots.js';

const NOW = Date.parse('2026-03-31T10:00:00.000Z');
const DAY = 86_400_000;

let dir: string;
let store: DesiredStateStore;
let objects: ObjectStore;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-retention-'));
  store = openStore(`sqlite:${path.join(dir, 'berth.db')}`);
  objects = openObjectStore(`file:${path.join(dir, 'objects')}`);
  await store.init();
  await objects.init();
});
afterEach(async () => {
  await store.close();
  await objects.close();
  await rm(dir, { recursive: true, force: true });
});

async function keys(prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const info of objects.list(prefix)) out.push(info.key);
  return out;
}

async function chunkAt(botId: string, ms: number, seq = 0): Promise<string> {
  const key = objectKeys.logChunk(botId, ms, seq);
  await objects.put(key, Buffer.from('{"time":"x","stream":"out","line":"l"}\n'));
  return key;
}

const days = (list: string[], botId: string) => [...new Set(list.map((k) => k.slice(objectKeys.logsPrefix(botId).length, -1).split('/')[0]))];

describe('LogRetention', () => {
  it('deletes whole UTC days before the retention, keeps the rest and other areas, across gaps', async () => {
    const clock = new FakeClock(NOW);
    await store.writeBot(makeBot('a'), 0);
    await store.writeBot(makeBot('b'), 0);
    // Bot a: 40 days back (two chunks), 31 (a gap of days in between), 30, 29 days back, today.
    for (const back of [40, 31, 30, 29, 0]) await chunkAt('a', NOW - back * DAY);
    await chunkAt('a', NOW - 40 * DAY + 1000, 1);
    await chunkAt('b', NOW - 2 * DAY);
    await objects.put(objectKeys.state('a'), Buffer.from('state'));
    const retention = new LogRetention({ store, objects, clock, log: silentLogger, retentionDays: 30 });

    expect(retention.firstKeptDay()).toBe('2026-03-01');
    const result = await retention.sweep();

    expect(result).toEqual({ bots: 2, daysDeleted: 2, objectsDeleted: 3 });
    expect(days(await keys(objectKeys.logsPrefix('a')), 'a')).toEqual(['2026-03-01', '2026-03-02', '2026-03-31']);
    expect(await keys(objectKeys.logsPrefix('b'))).toHaveLength(1);
    expect(await objects.get(objectKeys.state('a'))).not.toBeNull();
    // Idempotent: a second sweep (another process, say) finds nothing to do.
    expect(await retention.sweep()).toEqual({ bots: 2, daysDeleted: 0, objectsDeleted: 0 });
  });

  it('sweeps on its timer, a minute after start and then every interval; stop() is idempotent', async () => {
    const clock = new FakeClock(NOW);
    await store.writeBot(makeBot('a'), 0);
    const old = await chunkAt('a', NOW - 3 * DAY);
    const retention = new LogRetention({ store, objects, clock, log: silentLogger, retentionDays: 1, intervalMs: 3_600_000 });
    retention.start();
    clock.advance(59_999);
    expect(await keys(objectKeys.logsPrefix('a'))).toEqual([old]);
    clock.advance(1);
    await waitFor('the first sweep', async () => (await keys(objectKeys.logsPrefix('a'))).length === 0);

    // A chunk of today survives the sweeps while it is young and goes at the first one after.
    await waitFor('the next sweep scheduled', async () => clock.pending() === 1);
    const today = await chunkAt('a', NOW);
    clock.advance(2 * DAY); // the sweep due an hour after the first, when the chunk was young
    await waitFor('that sweep done and the next scheduled', async () => clock.pending() === 1);
    expect(await keys(objectKeys.logsPrefix('a'))).toEqual([today]);
    clock.advance(3_600_000);
    await waitFor('the chunk, now two days old, deleted', async () => (await keys(objectKeys.logsPrefix('a'))).length === 0);
    await retention.stop();
    await retention.stop();
  });

  it('refuses a retention that is not a whole number of days ≥ 1', () => {
    const base = { store, objects, clock: new FakeClock(NOW), log: silentLogger };
    expect(() => new LogRetention({ ...base, retentionDays: 0 })).toThrow(RangeError);
    expect(() => new LogRetention({ ...base, retentionDays: 1.5 })).toThrow(/whole number/);
  });
});
