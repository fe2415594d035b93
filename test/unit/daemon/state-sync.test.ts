/**
 * StateSync on its own, against the real filesystem object store: the poll safety net,
 * and an object store that is down (a file blocking the bot's state directory) — the newest
 * state is kept locally and is what gets uploaded once the store is back, never an older one.
 */
import { watch } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { FsObjectStore } from '../../../src/adapters/objects/fs/fs-object-store.js';
import { extractPackage } from '../../../src/archive/extract.js';
import { StateSync, type StateSyncOptions } from '../../../src/daemon/state-sync.js';
import { objectKeys } from '../../../src/domain/object-keys.js';
import { waitFor } from '../../support/wait.js';

let root: string;
let store: FsObjectStore;
let stateDir: string;
let sync: StateSync | undefined;
const logs: string[] = [];

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'berth-statesync-'));
  store = new FsObjectStore(path.join(root, 'objects'));
  await store.init();
  stateDir = path.join(root, 'state');
  await mkdir(stateDir);
  await mkdir(path.join(root, 'work'));
  logs.length = 0;
});
afterEach(async () => {
  sync?.stop();
  await store.close();
  await rm(root, { recursive: true, force: true });
});

function start(options: Partial<StateSyncOptions> = {}): Promise<void> {
  sync = new StateSync({
    store,
    botId: 'b',
    stateDir,
    workDir: path.join(root, 'work'),
    debounceMs: 100,
    maxWaitMs: 1000,
    limits: { maxBytes: 1024 * 1024, maxFiles: 100 },
    log: (l) => logs.push(l),
    ...options,
  });
  return sync.start();
}

async function storedStateJson(): Promise<string | undefined> {
  const bytes = await store.get(objectKeys.state('b'));
  if (!bytes) return undefined;
  const dir = await mkdtemp(path.join(root, 'read-'));
  await writeFile(path.join(dir, 's.tar.gz'), bytes);
  await extractPackage(path.join(dir, 's.tar.gz'), path.join(dir, 'x'));
  const { readFile } = await import('node:fs/promises');
  return readFile(path.join(dir, 'x/state.json'), 'utf8').catch(() => undefined);
}

it('without change notifications, the poll alone stores a change', async () => {
  await start({ watch: false, pollMs: 200 });
  await writeFile(path.join(stateDir, 'state.json'), '{"polled":true}');
  await waitFor('the polled change stored', async () => (await storedStateJson()) === '{"polled":true}', { timeoutMs: 3000 });
});

it('does not upload the state it started with', async () => {
  await writeFile(path.join(stateDir, 'state.json'), '{"restored":true}');
  await start();
  expect(await sync!.syncNow()).toBe('unchanged');
  expect(await store.get(objectKeys.state('b'))).toBeNull();
});

it('with the store down, keeps the newest state and uploads it (only it) once the store is back', async () => {
  await start();
  let uploads = 0;
  await mkdir(path.join(root, 'objects/state'), { recursive: true });
  // The store is "down" for this bot: a file where its state directory must be.
  await writeFile(path.join(root, 'objects/state/b'), 'blocked');
  await writeFile(path.join(stateDir, 'state.json'), '{"v":1}');
  await waitFor('the failure reported', () => logs.some((l) => l.startsWith('state upload failed, keeping the newest state locally')));
  await writeFile(path.join(stateDir, 'state.json'), '{"v":2}');
  // Bring the store back atomically with a directory that is already being watched.
  await mkdir(path.join(root, 'objects/state/b.new'));
  const watcher = watch(path.join(root, 'objects/state/b.new'), (event, name) => {
    if (event === 'rename' && name === 'state.tar.gz') uploads++;
  });
  await rm(path.join(root, 'objects/state/b'));
  const { rename } = await import('node:fs/promises');
  await rename(path.join(root, 'objects/state/b.new'), path.join(root, 'objects/state/b'));
  try {
    await waitFor('the newest state stored after the retry', async () => (await storedStateJson()) === '{"v":2}', { timeoutMs: 10_000 });
    expect(uploads).toBe(1);
    expect(logs).toContain('state upload works again');
  } finally {
    watcher.close();
  }
});

it('finalSync stores the current content and reports a store that stays down by the deadline', async () => {
  await start({ debounceMs: 60_000, maxWaitMs: 60_000 });
  await writeFile(path.join(stateDir, 'state.json'), '{"final":1}');
  expect(await sync!.finalSync(Date.now() + 5000)).toBe('uploaded');
  expect(await storedStateJson()).toBe('{"final":1}');

  await start({ debounceMs: 60_000, maxWaitMs: 60_000 });
  await rm(path.join(root, 'objects/state/b'), { recursive: true });
  await writeFile(path.join(root, 'objects/state/b'), 'blocked');
  await writeFile(path.join(stateDir, 'state.json'), '{"final":2}');
  const t = Date.now();
  expect(await sync!.finalSync(Date.now() + 1500)).toBe('failed');
  expect(Date.now() - t).toBeLessThan(4000);
});

it('symlinks leaving the state dir are not saved (said once), the rest is', async () => {
  const { symlink } = await import('node:fs/promises');
  await start();
  await symlink('/etc/passwd', path.join(stateDir, 'passwd'));
  await writeFile(path.join(stateDir, 'state.json'), '{"ok":true}');
  expect(await sync!.syncNow()).toBe('uploaded');
  expect(await storedStateJson()).toBe('{"ok":true}');
  expect(logs.filter((l) => l.includes('passwd is not saved'))).toHaveLength(1);
});
