/**
 * State sync and shutdown with the real daemon and a real bot (controlled through command
 * files): every kind of write is stored within debounce + 2 s, a burst gives only a few
 * uploads, an invalid state.json is never uploaded, an emptied directory is, SIGTERM reaches
 * the bot and the final sync stores its last write, a crashed bot's state is still saved,
 * and log lines arrive as NDJSON chunks.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DAEMON_ENV } from '../../../src/domain/daemon-contract.js';
import { objectKeys } from '../../../src/domain/object-keys.js';
import { parseProblemRecord, type StateProblemRecord } from '../../../src/domain/state-problem.js';
import { waitFor } from '../../support/wait.js';
import { CONTROLLED_NODE_BOT, DaemonSandbox, findPython, type DaemonProcess } from './harness.js';

const DEBOUNCE_MS = 500;
const WITHIN_MS = DEBOUNCE_MS + 2000;

let sb: DaemonSandbox;
let uploadWatcher: FSWatcher | undefined;
let uploads = 0;

beforeEach(async () => {
  sb = await DaemonSandbox.create();
  uploads = 0;
  // Each upload of the filesystem store ends with one rename onto state.tar.gz.
  uploadWatcher = watch(path.join(sb.objectsDir, 'state', sb.botId), (event, name) => {
    if (event === 'rename' && name === 'state.tar.gz') uploads++;
  });
});
afterEach(async () => {
  uploadWatcher?.close();
  await sb.cleanup();
});

async function startControlledBot(extraEnv: Record<string, string> = {}): Promise<DaemonProcess> {
  await sb.uploadCode(CONTROLLED_NODE_BOT);
  const p = await sb.start('bootstrap', sb.env({ [DAEMON_ENV.runtime]: 'nodejs20', [DAEMON_ENV.entrypoint]: 'bot.mjs', [DAEMON_ENV.debounceMs]: String(DEBOUNCE_MS), ...extraEnv }));
  await p.waitForOutput('controlled bot started');
  return p;
}

async function commandDone(p: DaemonProcess, cmd: Record<string, unknown>, timeoutMs = 15_000): Promise<number> {
  const n = await sb.command(cmd);
  await p.waitForOutput(`done ${n} ${String(cmd['op'])}`, timeoutMs);
  return Date.now();
}

async function storedWithin(what: string, check: (s: Record<string, string> | null) => boolean, since: number): Promise<number> {
  await waitFor(what, async () => check(await sb.storedState()), { timeoutMs: WITHIN_MS, intervalMs: 25 });
  return Date.now() - since;
}

async function problemRecord(): Promise<StateProblemRecord | undefined> {
  const bytes = await sb.store.get(objectKeys.stateProblem(sb.botId));
  return bytes ? parseProblemRecord(bytes) : undefined;
}

const valueOf = (s: Record<string, string> | null): unknown => (s?.['state.json'] ? (JSON.parse(s['state.json']) as { value?: unknown }).value : undefined);

describe('state sync', () => {
  it('stores writes made by temp-then-rename, in place, and in a new nested directory, each within debounce + 2 s', async () => {
    const p = await startControlledBot();
    let t = await commandDone(p, { op: 'rename', value: 'renamed-1' });
    await storedWithin('renamed value', (s) => valueOf(s) === 'renamed-1', t);
    t = await commandDone(p, { op: 'rename', value: 'renamed-2' });
    await storedWithin('second rename (the watch survives the rename)', (s) => valueOf(s) === 'renamed-2', t);
    t = await commandDone(p, { op: 'inplace', value: 'in-place' });
    await storedWithin('in-place value', (s) => valueOf(s) === 'in-place', t);
    t = await commandDone(p, { op: 'nested', value: 'deep-1' });
    await storedWithin('nested value', (s) => s?.['a/b/c/deep.json'] === '{"value":"deep-1"}', t);
    t = await commandDone(p, { op: 'nested', value: 'deep-2' });
    await storedWithin('second write in the new nested dir', (s) => s?.['a/b/c/deep.json'] === '{"value":"deep-2"}', t);
  });

  it('a burst of 200 writes: the last value is stored within debounce + 2 s, with only a few uploads', async () => {
    const p = await startControlledBot();
    const before = uploads;
    const t = await commandDone(p, { op: 'burst', count: 200, gapMs: 2 }, 30_000);
    await storedWithin('last value of the burst', (s) => valueOf(s) === 200, t);
    const burstUploads = uploads - before;
    expect(burstUploads).toBeGreaterThanOrEqual(1);
    expect(burstUploads).toBeLessThanOrEqual(4);
  });

  it('a bot writing without pause is still saved before the maximum wait passes', async () => {
    const p = await startControlledBot({ [DAEMON_ENV.maxWaitMs]: '1500' });
    const n = await sb.command({ op: 'burst', count: 1500, gapMs: 5 });
    // The burst takes several seconds (more than max wait) of writes closer than the debounce.
    await waitFor('an intermediate value stored while the burst is still going', async () => {
      const v = valueOf(await sb.storedState());
      return typeof v === 'number' && v < 1500 && !(p.stdout.includes(`done ${n} burst`)) ? v : undefined;
    }, { timeoutMs: 1500 + 2000 + 1000, intervalMs: 25 });
  });

  it('an invalid state.json is not uploaded and the last good state stays, and the record says so; an emptied directory is uploaded and clears it', async () => {
    const p = await startControlledBot();
    let t = await commandDone(p, { op: 'inplace', value: 'good' });
    await storedWithin('good value', (s) => valueOf(s) === 'good', t);
    await commandDone(p, { op: 'invalid' });
    await p.waitForOutput(/state not saved: state\.json is not valid JSON.*the last good state stays/, WITHIN_MS);
    expect(valueOf(await sb.storedState())).toBe('good');
    await waitFor('the reason in the shipped logs', async () =>
      (await sb.logEntries()).some((e) => e.stream === 'berth' && e.line.includes('state.json is not valid JSON')),
    );
    await waitFor('the problem recorded next to the state', async () => (await problemRecord())?.problem?.kind === 'invalid-json');

    t = await commandDone(p, { op: 'empty' });
    await storedWithin('the emptied state', (s) => s !== null && Object.keys(s).length === 0, t);
    await waitFor('the problem cleared', async () => (await problemRecord())?.problem === null);
  });

  it('SIGTERM reaches the bot, which saves; the final sync stores exactly its last write; exit code and done file', async () => {
    // A long debounce: only the final sync can store the SIGTERM handler's write in time.
    const p = await startControlledBot({ [DAEMON_ENV.debounceMs]: '60000', [DAEMON_ENV.maxWaitMs]: '60000' });
    await commandDone(p, { op: 'inplace', value: 'before-stop' });
    p.signal('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.stdout).toContain('got SIGTERM, saved');
    expect(await sb.storedStateJson()).toEqual({ final: true, last: 'before-stop' });
    expect(await readFile(path.join(sb.workDir, 'done'), 'utf8')).toBe('0\n');
    const logs = await sb.logEntries();
    expect(logs.some((e) => e.stream === 'out' && e.line === 'got SIGTERM, saved')).toBe(true);
    expect(logs.some((e) => e.stream === 'berth' && e.line.startsWith('SIGTERM received'))).toBe(true);
  });

  it('a bot that ignores SIGTERM is killed after the grace period minus the sync margin, and the state is still stored', async () => {
    await sb.uploadCode({
      'stubborn.mjs': "import fs from 'node:fs';\nprocess.on('SIGTERM', () => { fs.writeFileSync(process.env.BERTH_STATE_DIR + '/state.json', '{\"ignored\":true}'); console.log('ignoring SIGTERM'); });\nconsole.log('stubborn started');\nsetInterval(() => {}, 1000);\n",
    });
    const p = await sb.start('bootstrap', sb.env({ [DAEMON_ENV.runtime]: 'nodejs20', [DAEMON_ENV.entrypoint]: 'stubborn.mjs', [DAEMON_ENV.graceSeconds]: '3', [DAEMON_ENV.debounceMs]: '60000', [DAEMON_ENV.maxWaitMs]: '60000' }));
    await p.waitForOutput('stubborn started');
    const t = Date.now();
    p.signal('SIGTERM');
    expect(await p.exited).toBe(137);
    const took = Date.now() - t;
    expect(took).toBeGreaterThanOrEqual(1900);
    expect(took).toBeLessThan(3000 + 10_000);
    expect(p.stderr).toContain('did not exit within 2 s: killing it');
    expect(await sb.storedStateJson()).toEqual({ ignored: true });
  });

  it('a crashed bot: its last state is uploaded before the daemon exits with its code', async () => {
    const p = await startControlledBot({ [DAEMON_ENV.debounceMs]: '60000', [DAEMON_ENV.maxWaitMs]: '60000' });
    await sb.command({ op: 'crash', value: 'last-words' });
    expect(await p.exited).toBe(1);
    expect(valueOf(await sb.storedState())).toBe('last-words');
    expect(p.stderr).toContain('bot crashed on purpose');
  });

  it.skipIf(findPython() === undefined)('python: SIGTERM becomes SystemExit so a finally block saves, exit code 143', async () => {
    await sb.uploadCode({
      'main.py': 'import json, os, time\n\ndef main(bot_id, config):\n    path = os.path.join(os.environ["BERTH_STATE_DIR"], "state.json")\n    try:\n        print("py started", flush=True)\n        while True:\n            time.sleep(0.05)\n    finally:\n        with open(path, "w") as f:\n            json.dump({"saved_in_finally": True}, f)\n',
    });
    const p = await sb.start('bootstrap', sb.env({ [DAEMON_ENV.runtime]: 'python3.11', [DAEMON_ENV.entrypoint]: 'main.py', [DAEMON_ENV.debounceMs]: '60000', [DAEMON_ENV.maxWaitMs]: '60000' }));
    await p.waitForOutput('py started');
    p.signal('SIGTERM');
    expect(await p.exited).toBe(143);
    expect(await sb.storedStateJson()).toEqual({ saved_in_finally: true });
  });

  it('a restarted daemon continues from the stored state and does not upload it again unchanged', async () => {
    await sb.putState({ 'state.json': '{"value":"restored"}' });
    const p = await startControlledBot();
    uploads = 0;
    expect(await readFile(path.join(sb.stateDir, 'state.json'), 'utf8')).toBe('{"value":"restored"}');
    const t = await commandDone(p, { op: 'inplace', value: 'after-restart' });
    await storedWithin('new value', (s) => valueOf(s) === 'after-restart', t);
    expect(uploads).toBe(1);
    expect(p.stderr).not.toMatch(/state upload/);
  });
});

describe('log shipping', () => {
  it('ships stdout, stderr and berth lines as NDJSON chunks with times and the run id, never rewriting a chunk', async () => {
    await sb.uploadCode({ 'talk.mjs': 'for (let i = 0; i < 5; i++) console.log("out line " + i);\nconsole.error("err line");\n' });
    const p = await sb.start('bootstrap', sb.env({ [DAEMON_ENV.runtime]: 'nodejs20', [DAEMON_ENV.entrypoint]: 'talk.mjs', [DAEMON_ENV.runId]: 'run-123', [DAEMON_ENV.kind]: 'scheduled' }));
    expect(await p.exited).toBe(0);
    const keys = await sb.logKeys();
    expect(keys.length).toBeGreaterThanOrEqual(1);
    for (const key of keys) expect(key).toMatch(new RegExp(`^logs/${sb.botId}/\\d{4}-\\d{2}-\\d{2}/\\d{13}-\\d{6}\\.ndjson$`));
    const raw = (await Promise.all(keys.map(async (k) => (await sb.store.get(k))!.toString('utf8')))).join('');
    for (const line of raw.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    const entries = await sb.logEntries();
    const out = entries.filter((e) => e.stream === 'out').map((e) => e.line);
    expect(out).toEqual(['out line 0', 'out line 1', 'out line 2', 'out line 3', 'out line 4']);
    expect(entries.filter((e) => e.stream === 'err').map((e) => e.line)).toEqual(['err line']);
    expect(entries.some((e) => e.stream === 'berth' && e.line === 'the bot exited with code 0')).toBe(true);
    // Lines of the run itself carry the run id (init's lines are shipped by init, also with it).
    for (const e of entries) {
      expect(Number.isNaN(Date.parse(e.time))).toBe(false);
      expect(e.runId).toBe('run-123');
    }
    expect(await readFile(path.join(sb.workDir, 'logs/bot.log'), 'utf8')).toContain('out line 4');
  });

  it('ships lines of a live bot every few seconds while it runs', async () => {
    const p = await startControlledBot({ [DAEMON_ENV.logIntervalMs]: '300' });
    await commandDone(p, { op: 'inplace', value: 1 });
    await waitFor('the bot line in a shipped chunk', async () => (await sb.logEntries()).some((e) => e.line === 'done 0 inplace'), { timeoutMs: 3000, intervalMs: 50 });
  });
});
