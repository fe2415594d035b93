import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { chunksFrom, LogReader } from '../../../src/core/queries/log-reader.js';
import { StateReader } from '../../../src/core/queries/state-reader.js';
import { StatusView, displayState } from '../../../src/core/queries/status-view.js';
import { formatLogChunk, type LogEntry } from '../../../src/domain/logs.js';
import { UnavailableError } from '../../../src/domain/errors.js';
import { objectKeys } from '../../../src/domain/object-keys.js';
import { encodeProblemRecord, type StateProblem } from '../../../src/domain/state-problem.js';
import type { ObjectStore } from '../../../src/ports/objects.js';
import { waitFor } from '../../support/wait.js';
import { PYTHON_BOT, tarGzBuffer, writeTarGz } from './fixtures.js';
import { openHarness, type Harness } from './harness.js';

let h: Harness;
beforeEach(async () => {
  h = await openHarness();
});
afterEach(async () => {
  await h.close();
});

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const entry = (ms: number, line: string, extra: Partial<LogEntry> = {}): LogEntry => ({ time: new Date(ms).toISOString(), stream: 'out', line, ...extra });

/** One chunk per second from T0, each with `perChunk` lines stamped before the chunk's name time. */
async function writeChunks(botId: string, chunks: number, perChunk: number, from = 0): Promise<void> {
  for (let c = from; c < from + chunks; c++) {
    const shippedAt = T0 + (c + 1) * 1000;
    const lines = Array.from({ length: perChunk }, (_, i) => entry(T0 + c * 1000 + i * 10, `c${c}-l${i}`));
    await h.objects.put(objectKeys.logChunk(botId, shippedAt, c), Buffer.from(formatLogChunk(lines)));
  }
}

/** Counts downloads so tests can see which chunks were skipped without being read. */
function countingObjects(inner: ObjectStore, gets: string[]): ObjectStore {
  const wrapper = Object.create(inner) as ObjectStore;
  wrapper.get = (key, signal) => {
    gets.push(key);
    return inner.get(key, signal);
  };
  return wrapper;
}

describe('LogReader', () => {
  it('reads every chunk in order; tail reads only the newest chunks it needs', async () => {
    await writeChunks('a', 5, 3);
    const gets: string[] = [];
    const reader = new LogReader({ objects: countingObjects(h.objects, gets) });
    const all = await reader.read('a');
    expect(all.map((e) => e.line)).toEqual(Array.from({ length: 15 }, (_, i) => `c${Math.floor(i / 3)}-l${i % 3}`));
    gets.length = 0;
    const tail = await reader.read('a', { tail: 4 });
    expect(tail.map((e) => e.line)).toEqual(['c3-l2', 'c4-l0', 'c4-l1', 'c4-l2']);
    expect(gets).toHaveLength(2);
  });

  it('since skips chunks that end before it without downloading them', async () => {
    await writeChunks('a', 6, 2);
    const gets: string[] = [];
    const reader = new LogReader({ objects: countingObjects(h.objects, gets) });
    const since = new Date(T0 + 3000 + 5); // inside chunk 3: its second line (3010) and everything later
    const lines = await reader.read('a', { since });
    expect(lines.map((e) => e.line)).toEqual(['c3-l1', 'c4-l0', 'c4-l1', 'c5-l0', 'c5-l1']);
    // Chunks 0 and 1 are skipped (their successors began before since); chunk 2 is read and filtered.
    expect(gets).toHaveLength(4);
    expect(gets.every((k) => !k.includes('-000000.') && !k.includes('-000001.'))).toBe(true);
  });

  it('chunksFrom keeps a chunk unless the next one began before since', () => {
    const chunks = [{ epochMs: 1000 }, { epochMs: 2000 }, { epochMs: 3000 }];
    expect(chunksFrom(chunks, new Date(2500))).toEqual([{ epochMs: 2000 }, { epochMs: 3000 }]);
    expect(chunksFrom(chunks, new Date(500))).toEqual(chunks);
    expect(chunksFrom(chunks, new Date(9000))).toEqual([{ epochMs: 3000 }]);
  });

  it('filters by run id and combines tail with since', async () => {
    const lines = [entry(T0, 'a', { runId: 'r1' }), entry(T0 + 1, 'b', { runId: 'r2' }), entry(T0 + 2, 'c', { runId: 'r1' })];
    await h.objects.put(objectKeys.logChunk('s', T0 + 10, 0), Buffer.from(formatLogChunk(lines)));
    const reader = new LogReader({ objects: h.objects });
    expect((await reader.read('s', { runId: 'r1' })).map((e) => e.line)).toEqual(['a', 'c']);
    expect((await reader.read('s', { since: new Date(T0 + 1), tail: 1 })).map((e) => e.line)).toEqual(['c']);
  });

  it('an oversized chunk is replaced by one berth line instead of being downloaded', async () => {
    await h.objects.put(objectKeys.logChunk('big', T0, 0), Buffer.from(formatLogChunk([entry(T0, 'x'.repeat(2000))])));
    const reader = new LogReader({ objects: h.objects, maxChunkBytes: 1000 });
    const [only] = await reader.read('big');
    expect(only?.stream).toBe('berth');
    expect(only?.line).toContain('1000-byte limit');
  });

  it('follow yields the existing tail, then chunks written later, and ends on abort', async () => {
    await writeChunks('f', 2, 2);
    const reader = new LogReader({ objects: h.objects, pollIntervalMs: 20 });
    const controller = new AbortController();
    const seen: string[] = [];
    const done = (async () => {
      for await (const e of reader.follow('f', { tail: 1 }, controller.signal)) seen.push(e.line);
    })();
    await waitFor('the initial tail', () => seen.length === 1);
    expect(seen).toEqual(['c1-l1']);
    await writeChunks('f', 1, 2, 2);
    await waitFor('the new chunk', () => seen.length === 3);
    expect(seen).toEqual(['c1-l1', 'c2-l0', 'c2-l1']);
    // A chunk sealed while the store was down arrives late, with an older name than the newest.
    const late = entry(T0 + 1500, 'late');
    await h.objects.put(objectKeys.logChunk('f', T0 + 1500, 99), Buffer.from(formatLogChunk([late])));
    await waitFor('the late chunk', () => seen.length === 4);
    expect(seen.at(-1)).toBe('late');
    controller.abort();
    await done;
  });
});

describe('StateReader', () => {
  it('lists the files and parses state.json and the seed SDK keys, in memory', async () => {
    const archive = await tarGzBuffer([
      { path: './', type: 'directory' },
      { path: './state.json', body: JSON.stringify({ counter: 42 }) },
      { path: './.the0-state/', type: 'directory' },
      { path: './.the0-state/portfolio.json', body: JSON.stringify({ btc: 1 }) },
      { path: './nested/deep/file.bin', body: Buffer.alloc(100) },
    ]);
    await h.objects.put(objectKeys.state('s1'), archive);
    const snapshot = await new StateReader({ objects: h.objects }).read('s1');
    expect(snapshot).toMatchObject({ botId: 's1', exists: true, stateJson: { counter: 42 }, keys: { portfolio: { btc: 1 } } });
    expect(snapshot.files.filter((f) => f.type === 'file')).toEqual([
      { path: 'state.json', size: 14, type: 'file' },
      { path: '.the0-state/portfolio.json', size: 9, type: 'file' },
      { path: 'nested/deep/file.bin', size: 100, type: 'file' },
    ]);
    expect(snapshot.updatedAt).toMatch(/^\d{4}-/);
  });

  it('no state yet is exists=false, not an error', async () => {
    expect(await new StateReader({ objects: h.objects }).read('nothing')).toEqual({ botId: 'nothing', exists: false, files: [] });
  });

  it('a state.json that does not parse comes back raw', async () => {
    await h.objects.put(objectKeys.state('s2'), await tarGzBuffer([{ path: 'state.json', body: '{"half": ' }]));
    const snapshot = await new StateReader({ objects: h.objects }).read('s2');
    expect(snapshot.stateJson).toBeUndefined();
    expect(snapshot.raw).toBe('{"half": ');
  });

  it('caps what it expands: a gzip bomb is reported, not inflated', async () => {
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024));
    await h.objects.put(objectKeys.state('bomb'), bomb);
    const snapshot = await new StateReader({ objects: h.objects, maxExpandedBytes: 1024 * 1024 }).read('bomb');
    expect(snapshot.exists).toBe(true);
    expect(snapshot.error).toContain('1048576');
    expect(snapshot.files).toEqual([]);
  });

  it('garbage is reported as not a valid archive', async () => {
    await h.objects.put(objectKeys.state('junk'), Buffer.from('not gzip at all'));
    const snapshot = await new StateReader({ objects: h.objects }).read('junk');
    expect(snapshot.error).toMatch(/cannot be expanded/);
    await h.objects.put(objectKeys.state('junk2'), gzipSync(Buffer.from('x'.repeat(700))));
    const second = await new StateReader({ objects: h.objects }).read('junk2');
    expect(second.error).toMatch(/not a valid tar|cannot be expanded/);
  });

  it('limits the listing and says it was truncated', async () => {
    const files = Array.from({ length: 30 }, (_, i) => ({ path: `f${i}`, body: 'x' }));
    await h.objects.put(objectKeys.state('many'), await tarGzBuffer(files));
    const snapshot = await new StateReader({ objects: h.objects, maxListedFiles: 10 }).read('many');
    expect(snapshot.files).toHaveLength(10);
    expect(snapshot.truncated).toBe(true);
  });

  it("carries the daemon's problem record: with the last good state, without any state, and not once it is resolved", async () => {
    const reader = new StateReader({ objects: h.objects });
    await h.objects.put(objectKeys.state('p1'), await tarGzBuffer([{ path: 'state.json', body: '{"n":1}' }]));
    await h.objects.put(objectKeys.stateProblem('p1'), encodeProblemRecord({ problem: INVALID, at: INVALID.since }));
    expect(await reader.read('p1')).toMatchObject({ exists: true, stateJson: { n: 1 }, problem: INVALID });

    await h.objects.put(objectKeys.stateProblem('p2'), encodeProblemRecord({ problem: { ...INVALID, kind: 'too-large' }, at: INVALID.since }));
    expect(await reader.read('p2')).toEqual({ botId: 'p2', exists: false, files: [], problem: { ...INVALID, kind: 'too-large' } });

    await h.objects.put(objectKeys.stateProblem('p1'), encodeProblemRecord({ problem: null, at: new Date().toISOString() }));
    expect((await reader.read('p1')).problem).toBeUndefined();
  });

  it('a record that is not one (garbage, or far too large to be the daemon\'s) shows no problem', async () => {
    const reader = new StateReader({ objects: h.objects });
    await h.objects.put(objectKeys.stateProblem('g1'), Buffer.from('{"problem": '));
    expect(await reader.readProblem('g1')).toBeUndefined();
    const huge = Buffer.concat([encodeProblemRecord({ problem: INVALID, at: INVALID.since }), Buffer.alloc(64 * 1024, 0x20)]);
    await h.objects.put(objectKeys.stateProblem('g2'), huge);
    expect(await reader.readProblem('g2')).toBeUndefined();
  });
});

const INVALID: StateProblem = { kind: 'invalid-json', message: 'state.json is not valid JSON (Unexpected end of JSON input)', since: '2026-03-01T10:00:00.000Z' };

describe('StatusView', () => {
  async function deploy(id: string) {
    const code = (await h.registry.uploadPackage(id, await writeTarGz(h.scratch(`${id}.tar.gz`), PYTHON_BOT))).code;
    return (await h.registry.applySpec({ id, code })).bot;
  }

  it('joins desired and observed state; a crash-looping bot carries its last log lines', async () => {
    await deploy('ok-bot');
    await deploy('bad-bot');
    await deploy('new-bot');
    const now = new Date().toISOString();
    await h.store.writeStatus({ botId: 'ok-bot', phase: 'running', restartCount: 0, updatedAt: now });
    await h.store.writeStatus({ botId: 'bad-bot', phase: 'crash-looping', restartCount: 7, lastExitCode: 1, updatedAt: now });
    const lines = Array.from({ length: 8 }, (_, i) => entry(T0 + i, `Traceback line ${i}`, { stream: 'err' }));
    await h.objects.put(objectKeys.logChunk('bad-bot', T0 + 100, 0), Buffer.from(formatLogChunk(lines)));
    const view = new StatusView({ store: h.store, logs: new LogReader({ objects: h.objects }), listLogLines: 3 });

    const list = await view.list();
    expect(list.map((v) => [v.bot.id, v.state])).toEqual([
      ['bad-bot', 'crash-looping'],
      ['new-bot', 'pending'],
      ['ok-bot', 'running'],
    ]);
    expect(list[0]?.status?.lastExitCode).toBe(1);
    expect(list[0]?.recentLogs?.map((e) => e.line)).toEqual(['Traceback line 5', 'Traceback line 6', 'Traceback line 7']);
    expect(list[2]?.recentLogs).toBeUndefined();
    expect((await view.get('bad-bot')).recentLogs).toHaveLength(8);
  });

  it('a scheduled bot shows running while a run goes on, even when newer slots were skipped for it', async () => {
    const code = (await h.registry.uploadPackage('cron-bot', await writeTarGz(h.scratch('cron-bot.tar.gz'), PYTHON_BOT))).code;
    await h.registry.applySpec({ id: 'cron-bot', code, kind: 'scheduled', schedule: { cron: '* * * * *' } });
    const view = new StatusView({ store: h.store, logs: new LogReader({ objects: h.objects }) });
    const run = (minute: number, status: 'running' | 'skipped' | 'succeeded') => ({
      runId: `r${minute}`,
      botId: 'cron-bot',
      trigger: 'cron' as const,
      scheduledFor: new Date(T0 + minute * 60_000).toISOString(),
      createdAt: new Date(T0 + minute * 60_000).toISOString(),
      status,
    });
    await h.store.createRun(run(0, 'succeeded'));
    expect((await view.get('cron-bot')).state).toBe('scheduled');
    await h.store.createRun(run(1, 'running'));
    for (let m = 2; m < 6; m++) await h.store.createRun(run(m, 'skipped'));
    const going = await view.get('cron-bot');
    expect(going.state).toBe('running');
    expect(going.schedule?.lastRun?.runId).toBe('r5');
    await h.store.writeRun({ ...run(1, 'succeeded'), finishedAt: new Date(T0 + 330_000).toISOString() });
    expect((await view.get('cron-bot')).state).toBe('scheduled');
  });

  it("a scheduled bot's last exit is its newest run that exited, past skipped and going runs, from the records read anyway", async () => {
    const code = (await h.registry.uploadPackage('exit-bot', await writeTarGz(h.scratch('exit-bot.tar.gz'), PYTHON_BOT))).code;
    await h.registry.applySpec({ id: 'exit-bot', code, kind: 'scheduled', schedule: { cron: '* * * * *' } });
    const pages: number[] = [];
    const store = Object.create(h.store) as typeof h.store;
    store.listRuns = (botId, limit, signal) => {
      pages.push(limit ?? -1);
      return h.store.listRuns(botId, limit, signal);
    };
    const view = new StatusView({ store, logs: new LogReader({ objects: h.objects }) });
    const at = (minute: number) => new Date(T0 + minute * 60_000).toISOString();
    const run = (minute: number, status: 'running' | 'skipped' | 'failed' | 'succeeded', exitCode?: number) => ({
      runId: `r${minute}`,
      botId: 'exit-bot',
      trigger: 'cron' as const,
      scheduledFor: at(minute),
      createdAt: at(minute),
      status,
      ...(exitCode !== undefined ? { exitCode, finishedAt: at(minute + 0.5) } : {}),
    });
    expect((await view.get('exit-bot')).schedule?.lastExit).toBeNull();
    await h.store.createRun(run(0, 'failed', 3));
    await h.store.createRun(run(1, 'skipped'));
    expect((await view.get('exit-bot')).schedule).toMatchObject({ lastRun: { runId: 'r1' }, lastExit: { runId: 'r0', exitCode: 3, finishedAt: at(0.5) } });
    // A going run: no look-back page, the few newest records read anyway hold the exit.
    await h.store.createRun(run(2, 'running'));
    pages.length = 0;
    expect((await view.list()).find((v) => v.bot.id === 'exit-bot')?.schedule?.lastExit).toMatchObject({ runId: 'r0', exitCode: 3 });
    expect(pages).toEqual([5]);
  });

  it('inspect carries a state that is not being saved; ls reads no problem records; an object store outage leaves it out', async () => {
    await deploy('stuck-bot');
    await h.objects.put(objectKeys.stateProblem('stuck-bot'), encodeProblemRecord({ problem: INVALID, at: INVALID.since }));
    const reads: string[] = [];
    const objects = Object.create(h.objects) as ObjectStore;
    objects.read = (key, upTo, signal) => {
      reads.push(key);
      return h.objects.read(key, upTo, signal);
    };
    const view = new StatusView({ store: h.store, logs: new LogReader({ objects }), stateProblems: new StateReader({ objects }) });
    expect((await view.get('stuck-bot')).stateProblem).toEqual(INVALID);
    expect(reads).toEqual([objectKeys.stateProblem('stuck-bot')]);
    reads.length = 0;
    expect((await view.list())[0]?.stateProblem).toBeUndefined();
    expect(reads).toEqual([]);

    const down = new StatusView({
      store: h.store,
      logs: new LogReader({ objects: h.objects }),
      stateProblems: { readProblem: () => Promise.reject(new UnavailableError('objects', 'connection refused')) },
    });
    const seen = await down.get('stuck-bot');
    expect(seen.bot.id).toBe('stuck-bot');
    expect(seen.stateProblem).toBeUndefined();
  });

  it('a run started warm ahead of its slot: starting, and its slot is the next run, until the slot (or while another runs)', async () => {
    const code = (await h.registry.uploadPackage('warm-bot', await writeTarGz(h.scratch('warm-bot.tar.gz'), PYTHON_BOT))).code;
    await h.registry.applySpec({ id: 'warm-bot', code, kind: 'scheduled', schedule: { cron: '* * * * *', overlap: 'allow' } });
    const slot = (minute: number) => new Date(T0 + minute * 60_000).toISOString();
    const record = (minute: number) => ({ runId: `r${minute}`, botId: 'warm-bot', trigger: 'cron' as const, scheduledFor: slot(minute), createdAt: slot(minute - 0.1), status: 'running' as const });
    // The slot of minute 1 is claimed (the stored next slot moved on to minute 2) and its container waits.
    await h.store.advanceSchedule(null, { botId: 'warm-bot', nextRunAt: slot(2), basis: 'b' });
    await h.store.createRun(record(1));
    let now = T0 + 60_000 - 3_000;
    const view = new StatusView({ store: h.store, logs: new LogReader({ objects: h.objects }), clock: () => new Date(now) });
    expect((await view.get('warm-bot')).state).toBe('starting');
    expect((await view.get('warm-bot')).schedule?.nextRunAt).toBe(slot(1));
    now = T0 + 60_000;
    expect((await view.get('warm-bot')).state).toBe('running');
    expect((await view.get('warm-bot')).schedule?.nextRunAt).toBe(slot(2));
    // Overlap allow: the run of minute 0 still going while minute 1's waits warm.
    now = T0 + 60_000 - 3_000;
    await h.store.createRun({ ...record(0), createdAt: slot(-0.1) });
    expect((await view.list()).find((v) => v.bot.id === 'warm-bot')).toMatchObject({ state: 'running', schedule: { nextRunAt: slot(1) } });
  });

  it('a disabled bot shows stopping while it still runs, then disabled', () => {
    const bot = { enabled: false } as Parameters<typeof displayState>[0];
    const status = (phase: 'running' | 'stopped') => ({ botId: 'x', phase, restartCount: 0, updatedAt: '' });
    expect(displayState(bot, status('running'))).toBe('stopping');
    expect(displayState(bot, status('stopped'))).toBe('disabled');
    expect(displayState(bot, null)).toBe('disabled');
  });
});

