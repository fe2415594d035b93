/**
 * "State not saved" made durable: the daemon keeps `state/<id>/problem.json` saying whether
 * the newest state is stored (whole), written only when that changes. StateSync runs against
 * the real filesystem object store with an injected clock; syncs are driven by hand.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsObjectStore } from '../../../src/adapters/objects/fs/fs-object-store.js';
import { PackageLimitError, PackageRejectedError } from '../../../src/domain/errors.js';
import { objectKeys } from '../../../src/domain/object-keys.js';
import { encodeProblemRecord, parseProblemRecord, type StateProblem, type StateProblemRecord } from '../../../src/domain/state-problem.js';
import type { ObjectStore } from '../../../src/ports/objects.js';
import { ProblemRecorder } from '../../../src/daemon/problem-recorder.js';
import { nextProblem, refusalFinding, savedFinding } from '../../../src/daemon/state-findings.js';
import { InvalidStateJson } from '../../../src/daemon/state-snapshot.js';
import { StateSync, type StateSyncOptions } from '../../../src/daemon/state-sync.js';
import { waitFor } from '../../support/wait.js';
import { FakeClock } from './fake-clock.js';

const BOT = 'b';
const PROBLEM_KEY = objectKeys.stateProblem(BOT);
const T0 = Date.parse('2026-03-01T10:00:00.000Z');

describe('findings and the record they lead to', () => {
  it('names the kind of refusal from the error type, not the message', () => {
    expect(refusalFinding(new InvalidStateJson('state.json is not valid JSON (x)')).kind).toBe('invalid-json');
    expect(refusalFinding(new PackageLimitError('bytes', 'the directory holds more than the 512 MiB allowed', 'big')).kind).toBe('too-large');
    expect(refusalFinding(new PackageLimitError('entries', 'more entries', 'f')).kind).toBe('too-many-files');
    expect(refusalFinding(new PackageRejectedError('symlink target goes through another symlink', 't')).kind).toBe('rejected');
    expect(refusalFinding(new Error('EACCES: permission denied')).kind).toBe('error');
  });

  it('a partial save names what was left out, the first three in the message', () => {
    expect(savedFinding(new Map())).toBeNull();
    const skips = new Map(['a.sock', 'b.sock', 'c.sock', 'd.sock'].map((p) => [p, 'special files cannot be packed']));
    const finding = savedFinding(skips)!;
    expect(finding.kind).toBe('partial');
    expect(finding.message).toBe(
      '4 entries left out: a.sock (special files cannot be packed), b.sock (special files cannot be packed), c.sock (special files cannot be packed) and 1 more',
    );
    expect(finding.skipped?.map((e) => e.path)).toEqual(['a.sock', 'b.sock', 'c.sock', 'd.sock']);
  });

  it('keeps `since` while saving stays broken for another reason, restarts it when a partial save becomes a refusal', () => {
    const invalid: StateProblem = { kind: 'invalid-json', message: 'state.json is not valid JSON (a)', since: 't0' };
    expect(nextProblem(invalid, { kind: 'invalid-json', message: invalid.message }, 't1')).toBe('same');
    expect(nextProblem(invalid, { kind: 'too-large', message: 'too big' }, 't1')).toEqual({ kind: 'too-large', message: 'too big', since: 't0' });
    const partial: StateProblem = { kind: 'partial', message: '1 entry left out', since: 't0', skipped: [{ path: 's', reason: 'r' }] };
    expect(nextProblem(partial, { kind: 'invalid-json', message: 'bad' }, 't1')).toEqual({ kind: 'invalid-json', message: 'bad', since: 't1' });
    expect(nextProblem(null, null, 't1')).toBe('same');
    expect(nextProblem(invalid, null, 't1')).toBeNull();
  });

  it('the record round-trips; anything else reads as no record', () => {
    const record: StateProblemRecord = { problem: { kind: 'partial', message: 'm', since: new Date(T0).toISOString(), skipped: [{ path: 'p', reason: 'r' }] }, at: 'x' };
    expect(parseProblemRecord(encodeProblemRecord(record))).toEqual(record);
    expect(parseProblemRecord(encodeProblemRecord({ problem: null, at: 'x' }))).toEqual({ problem: null, at: 'x' });
    for (const junk of ['', 'null', '[]', '{"at":"x"}', '{"problem":{"kind":"boom","message":"m","since":"2026-01-01"},"at":"x"}', '{"problem":{"kind":"partial","message":"m","since":"never"},"at":"x"}']) {
      expect(parseProblemRecord(Buffer.from(junk)), junk).toBeUndefined();
    }
  });
});

let root: string;
let fsStore: FsObjectStore;
let stateDir: string;
let clock: FakeClock;
let sync: StateSync | undefined;
const logs: string[] = [];
/** Keys of every put, in order. */
const puts: string[] = [];
const reads: string[] = [];

/** The real store, with puts and reads counted; `down` makes the problem record's calls fail. */
function countingStore(inner: ObjectStore, down: { problem: boolean }): ObjectStore {
  const wrapper = Object.create(inner) as ObjectStore;
  wrapper.put = async (key, body, size, signal) => {
    if (key === PROBLEM_KEY && down.problem) throw new Error('objects unavailable: connection refused');
    puts.push(key);
    return inner.put(key, body, size, signal);
  };
  wrapper.read = async (key, upTo, signal) => {
    if (key === PROBLEM_KEY && down.problem) throw new Error('objects unavailable: connection refused');
    reads.push(key);
    return inner.read(key, upTo, signal);
  };
  return wrapper;
}

const down = { problem: false };

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'berth-stateproblem-'));
  fsStore = new FsObjectStore(path.join(root, 'objects'));
  await fsStore.init();
  stateDir = path.join(root, 'state');
  await mkdir(stateDir);
  await mkdir(path.join(root, 'work'));
  // Real time as the start: the store calls' time-outs are taken from the wall clock.
  clock = new FakeClock(T0 > Date.now() ? T0 : Date.now());
  logs.length = 0;
  puts.length = 0;
  reads.length = 0;
  down.problem = false;
});
afterEach(async () => {
  sync?.stop();
  sync = undefined;
  await fsStore.close();
  await rm(root, { recursive: true, force: true });
});

async function start(options: Partial<StateSyncOptions> = {}): Promise<StateSync> {
  sync = new StateSync({
    store: countingStore(fsStore, down),
    botId: BOT,
    stateDir,
    workDir: path.join(root, 'work'),
    debounceMs: 100,
    maxWaitMs: 1000,
    watch: false,
    limits: { maxBytes: 1024, maxFiles: 100 },
    log: (l) => logs.push(l),
    clock,
    ...options,
  });
  await sync.start();
  return sync;
}

async function record(): Promise<StateProblemRecord | null | undefined> {
  const bytes = await fsStore.get(PROBLEM_KEY);
  return bytes === null ? null : parseProblemRecord(bytes);
}

async function syncAndRecord(s: StateSync): Promise<string> {
  const outcome = await s.syncNow();
  expect(await s.problemsRecorded()).toBe(true);
  return outcome;
}

const problemPuts = (): number => puts.filter((k) => k === PROBLEM_KEY).length;
const iso = (ms: number): string => new Date(ms).toISOString();

describe('StateSync records whether the newest state is saved', () => {
  it('an invalid state.json: recorded once with the time it began, the last good state stays; cleared by the next good save', async () => {
    const s = await start();
    await writeFile(path.join(stateDir, 'state.json'), '{"v":1}');
    expect(await syncAndRecord(s)).toBe('uploaded');
    // No problem ever, nothing to clear: one read of the record, no write.
    expect(await record()).toBeNull();
    expect(problemPuts()).toBe(0);
    const good = await fsStore.get(objectKeys.state(BOT));

    const brokenAt = clock.now();
    await writeFile(path.join(stateDir, 'state.json'), '{"v": ');
    expect(await syncAndRecord(s)).toBe('invalid');
    expect((await record())?.problem).toMatchObject({ kind: 'invalid-json', since: iso(brokenAt) });
    expect((await record())?.problem?.message).toMatch(/^state\.json is not valid JSON/);
    expect(await fsStore.get(objectKeys.state(BOT))).toEqual(good);

    // The bot keeps writing the same broken content (and polls find it): no more writes.
    clock.advance(60_000);
    for (let i = 0; i < 3; i++) {
      s.changed();
      await syncAndRecord(s);
    }
    expect(problemPuts()).toBe(1);

    await writeFile(path.join(stateDir, 'state.json'), '{"v":2}');
    expect(await syncAndRecord(s)).toBe('uploaded');
    expect((await record())?.problem).toBeNull();
    expect(problemPuts()).toBe(2);
    expect(reads.filter((k) => k === PROBLEM_KEY)).toHaveLength(1);
  });

  it('a state over the size limit: too-large; `since` stays while the reason changes, until a good save', async () => {
    const s = await start();
    const overAt = clock.now();
    await writeFile(path.join(stateDir, 'big.bin'), Buffer.alloc(2048));
    expect(await syncAndRecord(s)).toBe('invalid');
    expect((await record())?.problem).toMatchObject({ kind: 'too-large', since: iso(overAt) });
    expect((await record())?.problem?.message).toContain('more than the 1 KiB allowed');

    clock.advance(5000);
    await rm(path.join(stateDir, 'big.bin'));
    await writeFile(path.join(stateDir, 'state.json'), '{"v": ');
    await syncAndRecord(s);
    expect((await record())?.problem).toMatchObject({ kind: 'invalid-json', since: iso(overAt) });

    await writeFile(path.join(stateDir, 'state.json'), '{}');
    expect(await syncAndRecord(s)).toBe('uploaded');
    expect((await record())?.problem).toBeNull();
  });

  it('entries left out are a partial save: the state is stored and the record says what is missing', async () => {
    const s = await start();
    await symlink('/etc/passwd', path.join(stateDir, 'passwd'));
    await writeFile(path.join(stateDir, 'state.json'), '{"ok":true}');
    expect(await syncAndRecord(s)).toBe('uploaded');
    const problem = (await record())?.problem;
    expect(problem).toMatchObject({ kind: 'partial', since: iso(clock.now()), skipped: [{ path: 'passwd' }] });
    expect(problem?.message).toMatch(/^1 entry left out: passwd \(symlink points outside/);

    // Another upload with the same entry left out: the record already says so.
    await writeFile(path.join(stateDir, 'state.json'), '{"ok":2}');
    await syncAndRecord(s);
    expect(problemPuts()).toBe(1);

    await rm(path.join(stateDir, 'passwd'));
    await writeFile(path.join(stateDir, 'state.json'), '{"ok":3}');
    await syncAndRecord(s);
    expect((await record())?.problem).toBeNull();
  });

  it("a record left by an earlier container stays until this one saves a state the bot wrote, keeping its `since`", async () => {
    const earlier: StateProblem = { kind: 'too-large', message: 'the directory holds more than the 1 KiB allowed (entry "big.bin")', since: iso(T0 - 3_600_000) };
    await fsStore.put(PROBLEM_KEY, encodeProblemRecord({ problem: earlier, at: earlier.since }));
    await writeFile(path.join(stateDir, 'state.json'), '{"restored":true}');
    const s = await start();
    // The poll finds the restored content unchanged: no news about the newest state.
    expect(await syncAndRecord(s)).toBe('unchanged');
    expect((await record())?.problem).toEqual(earlier);

    // The same trouble again: same record, nothing written, `since` from the earlier container.
    await writeFile(path.join(stateDir, 'big.bin'), Buffer.alloc(2048));
    await syncAndRecord(s);
    expect(problemPuts()).toBe(0);
    expect((await record())?.problem).toEqual(earlier);

    await rm(path.join(stateDir, 'big.bin'));
    await writeFile(path.join(stateDir, 'state.json'), '{"new":true}');
    expect(await syncAndRecord(s)).toBe('uploaded');
    expect((await record())?.problem).toBeNull();
  });

  it('reverting to the stored content clears a problem this process found, though nothing is uploaded', async () => {
    await writeFile(path.join(stateDir, 'state.json'), '{"restored":true}');
    const s = await start();
    await writeFile(path.join(stateDir, 'state.json'), 'oops');
    await syncAndRecord(s);
    expect((await record())?.problem?.kind).toBe('invalid-json');
    await writeFile(path.join(stateDir, 'state.json'), '{"restored":true}');
    expect(await syncAndRecord(s)).toBe('unchanged');
    expect((await record())?.problem).toBeNull();
  });

  it('finalSync returns only once the record is written (a scheduled run exits right after)', async () => {
    const s = await start({ debounceMs: 60_000, maxWaitMs: 60_000 });
    await writeFile(path.join(stateDir, 'state.json'), '{"half": ');
    expect(await s.finalSync(clock.now() + 5000)).toBe('invalid');
    expect((await record())?.problem?.kind).toBe('invalid-json');
  });

  it('a record that cannot be written is retried on the clock and said once in the log', async () => {
    const s = await start();
    down.problem = true;
    await writeFile(path.join(stateDir, 'state.json'), 'not json');
    await s.syncNow();
    expect(await s.problemsRecorded()).toBe(false);
    expect(logs.filter((l) => l.startsWith("cannot record the state's save status"))).toHaveLength(1);
    expect(await record()).toBeNull();

    down.problem = false;
    clock.advance(1000);
    expect(await s.problemsRecorded()).toBe(true);
    expect((await record())?.problem?.kind).toBe('invalid-json');
    expect(logs).toContain("the state's save status is recorded again");
  });
});

describe('ProblemRecorder', () => {
  it('a finding that comes while a write is going is written after it, never overtaken by the older one', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const written: (string | undefined)[] = [];
    const store = Object.create(fsStore) as ObjectStore;
    store.put = async (key, body, size, signal) => {
      const problem = parseProblemRecord(body as Buffer)?.problem;
      written.push(problem?.message);
      if (written.length === 1) await gate;
      return fsStore.put(key, body, size, signal);
    };
    const recorder = new ProblemRecorder({ store, botId: BOT, clock, log: (l) => logs.push(l) });
    recorder.found({ kind: 'invalid-json', message: 'first' });
    await waitFor('the first write under way', () => written.length === 1);
    recorder.found({ kind: 'invalid-json', message: 'second' });
    recorder.found({ kind: 'too-large', message: 'newest' });
    release();
    expect(await recorder.idle()).toBe(true);
    expect(written).toEqual(['first', 'newest']);
    expect((await record())?.problem).toMatchObject({ kind: 'too-large', message: 'newest' });
  });
});
