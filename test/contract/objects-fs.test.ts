/**
 * The filesystem object store: the shared contract, plus what only a directory on disk
 * has — temp files next to the target, no leftovers, ownership, per-bot mounts.
 */
import { mkdtemp, readdir, rm, stat, chown, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsObjectStore } from '../../src/adapters/objects/fs/fs-object-store.js';
import { compareKeys } from '../../src/adapters/objects/fs/keys.js';
import { openObjectStore } from '../../src/adapters/objects/open.js';
import { UnavailableError, ValidationError } from '../../src/domain/errors.js';
import { waitFor } from '../support/wait.js';
import { keys, objectStoreContract } from './objects.contract.js';

async function tempRoot(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'berth-objects-'));
}

objectStoreContract('fs', async () => {
  const dir = await tempRoot();
  return {
    store: new FsObjectStore(path.join(dir, 'objects')),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

/** A stream that sends `first`, then waits until `release()` before sending `rest`. */
function pausedStream(first: Buffer, rest: Buffer) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let step = 0;
  const stream = new Readable({
    read() {
      const current = step++;
      if (current === 0) this.push(first);
      else if (current === 1) void released.then(() => this.push(rest));
      else if (current === 2) this.push(null);
    },
  });
  return { stream, release };
}

async function allFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

describe('FsObjectStore specifics', () => {
  let dir: string;
  let root: string;
  let store: FsObjectStore;

  beforeEach(async () => {
    dir = await tempRoot();
    root = path.join(dir, 'objects');
    store = new FsObjectStore(root);
    await store.init();
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('maps a key to <root>/<key>', async () => {
    await store.put('state/b1/state.tar.gz', Buffer.from('s'));
    expect(await allFiles(root)).toEqual(['state/b1/state.tar.gz']);
  });

  it('writes through a temp file in the target directory, invisible until renamed', async () => {
    await store.put('state/b1/state.tar.gz', Buffer.from('old!'));
    const { stream, release } = pausedStream(Buffer.from('ne'), Buffer.from('w!'));
    const put = store.put('state/b1/state.tar.gz', stream, 4);
    const targetDir = path.join(root, 'state', 'b1');
    const temp = await waitFor('a temp file next to the target', async () =>
      (await readdir(targetDir)).find((n) => /^\.state\.tar\.gz\.tmp-[0-9a-f]+$/.test(n)),
    );
    expect(await allFiles(root)).toEqual([`state/b1/${temp}`, 'state/b1/state.tar.gz']);
    expect(await keys(store.list(''))).toEqual(['state/b1/state.tar.gz']);
    expect((await store.get('state/b1/state.tar.gz'))?.toString()).toBe('old!');
    release();
    await put;
    expect((await store.get('state/b1/state.tar.gz'))?.toString()).toBe('new!');
    expect(await allFiles(root)).toEqual(['state/b1/state.tar.gz']);
  });

  it('removes the temp file when a put is aborted midway', async () => {
    const controller = new AbortController();
    const { stream } = pausedStream(Buffer.from('half'), Buffer.from('never'));
    const put = store.put('logs/b1/2024-01-01/1.ndjson', stream, 9, controller.signal);
    await waitFor('the temp file', async () => (await allFiles(root)).length === 1);
    controller.abort();
    await expect(put).rejects.toMatchObject({ name: 'AbortError' });
    expect(await allFiles(root)).toEqual([]);
  });

  it('removes the temp file when the size does not match or the source fails', async () => {
    await expect(store.put('state/b1/s', Readable.from([Buffer.from('toolong')]), 3)).rejects.toBeInstanceOf(ValidationError);
    await expect(store.put('state/b1/s', Readable.from([Buffer.from('ab')]), 3)).rejects.toBeInstanceOf(ValidationError);
    await expect(store.put('state/b1/s', Buffer.from('ab'), 3)).rejects.toBeInstanceOf(ValidationError);
    const failing = new Readable({
      read() {
        this.destroy(new Error('disk on fire'));
      },
    });
    await expect(store.put('state/b1/s', failing, 3)).rejects.toThrow(/disk on fire/);
    expect(await allFiles(root)).toEqual([]);
  });

  it('does not list or return stale temp files left by a crash', async () => {
    await mkdir(path.join(root, 'state', 'b1'), { recursive: true });
    await writeFile(path.join(root, 'state', 'b1', '.state.tar.gz.tmp-0123abcd'), 'partial');
    expect(await keys(store.list(''))).toEqual([]);
    expect(await store.get('state/b1/state.tar.gz')).toBeNull();
    await expect(store.get('state/b1/.state.tar.gz.tmp-0123abcd')).rejects.toBeInstanceOf(ValidationError);
    // deletePrefix cleans them up without counting them as objects.
    expect(await store.deletePrefix('state/b1/')).toBe(0);
    expect(await allFiles(root)).toEqual([]);
  });

  it('lists in UTF-8 byte order where UTF-16 order differs', async () => {
    // U+E000 sorts before U+1F600 in UTF-8 (EE… < F0…) but after it in UTF-16 (0xE000 > 0xD83D).
    const odd = ['logs/u/\u{1F600}', 'logs/u/\uE000', 'logs/u/é', 'logs/u/z', 'logs/u/\u{1F601}/x'];
    for (const key of odd) await store.put(key, Buffer.from(key));
    expect(await keys(store.list('logs/u/'))).toEqual([...odd].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
  });

  it('orders keys by their UTF-8 bytes, surrogate pairs included', () => {
    const alphabet = ['a', 'z', '-', '/', '0', 'é', '\u07ff', '\u0800', '\ud7ff', '\ue000', '\uffff', '\u{10000}', '\u{1F600}', '\u{10FFFF}'];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    const word = () => Array.from({ length: next() % 4 }, () => alphabet[next() % alphabet.length]).join('');
    const sign = (n: number) => Math.sign(n);
    for (let i = 0; i < 2000; i++) {
      const common = word();
      const a = common + word();
      const b = common + word();
      expect(sign(compareKeys(a, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`).toBe(sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
    }
  });

  it('removes directories that deletes leave empty', async () => {
    await store.put('logs/b1/2024-01-01/1.ndjson', Buffer.from('x'));
    await store.put('logs/b2/2024-01-01/1.ndjson', Buffer.from('x'));
    await store.delete('logs/b1/2024-01-01/1.ndjson');
    expect(await readdir(path.join(root, 'logs'))).toEqual(['b2']);
    await store.deletePrefix('logs/b2/');
    expect(await readdir(root)).toEqual([]);
  });

  it('mounts only the bot’s own code (read-only), state and logs into a container', async () => {
    await store.put('state/other/state.tar.gz', Buffer.from('not yours'));
    const access = await store.daemonAccess('b1', 'container');
    expect(access.env).toEqual({ BERTH_DAEMON_OBJECTS: 'file:/var/berth/objects' });
    expect(access.mounts).toEqual([
      { source: path.join(root, 'code', 'b1'), target: '/var/berth/objects/code/b1', readOnly: true },
      { source: path.join(root, 'state', 'b1'), target: '/var/berth/objects/state/b1', readOnly: false },
      { source: path.join(root, 'logs', 'b1'), target: '/var/berth/objects/logs/b1', readOnly: false },
    ]);
    for (const mount of access.mounts) expect((await stat(mount.source)).isDirectory()).toBe(true);
  });

  it('gives a local daemon the absolute root and no mounts', async () => {
    const relative = new FsObjectStore(path.relative(process.cwd(), root));
    expect(await relative.daemonAccess('b1', 'host')).toEqual({ env: { BERTH_DAEMON_OBJECTS: `file:${root}` }, mounts: [] });
  });

  it('reports a missing root as unavailable', async () => {
    const missing = new FsObjectStore(path.join(dir, 'nope'));
    await expect(missing.ping()).rejects.toBeInstanceOf(UnavailableError);
    await expect(missing.ping()).rejects.toMatchObject({ dependency: 'objects' });
    await writeFile(path.join(dir, 'a-file'), 'x');
    await expect(new FsObjectStore(path.join(dir, 'a-file')).ping()).rejects.toBeInstanceOf(UnavailableError);
  });

  it.runIf(process.getuid?.() === 0)('as root with matchParentOwner, new files take the owner of the bot’s directory', async () => {
    const owned = new FsObjectStore(root, { matchParentOwner: true });
    await mkdir(path.join(root, 'state', 'b1'), { recursive: true });
    await chown(path.join(root, 'state', 'b1'), 12345, 23456);
    await owned.put('state/b1/nested/deeper/state.tar.gz', Buffer.from('x'));
    for (const p of ['state/b1/nested', 'state/b1/nested/deeper', 'state/b1/nested/deeper/state.tar.gz']) {
      const s = await stat(path.join(root, p));
      expect([p, s.uid, s.gid]).toEqual([p, 12345, 23456]);
    }
    // Without the option, files stay root's.
    await store.put('state/b1/plain', Buffer.from('x'));
    expect((await stat(path.join(root, 'state/b1/plain'))).uid).toBe(0);
  });
});

describe('openObjectStore', () => {
  it('opens file:<relative path> against the working directory', () => {
    const store = openObjectStore('file:./.berth/objects');
    expect(store).toBeInstanceOf(FsObjectStore);
    expect((store as FsObjectStore).root).toBe(path.resolve('.berth/objects'));
  });

  it('opens file:<absolute path> and file://<absolute path>', () => {
    expect((openObjectStore('file:/srv/objects') as FsObjectStore).root).toBe('/srv/objects');
    expect((openObjectStore('file:///srv/my%20objects') as FsObjectStore).root).toBe('/srv/my objects');
  });

  it('rejects unknown schemes and malformed URLs, naming the setting and the accepted forms', () => {
    for (const url of ['ftp://x/y', 'objects', 'file:', 'file://host/path']) {
      let caught: unknown;
      try {
        openObjectStore(url);
      } catch (err) {
        caught = err;
      }
      expect(caught, url).toBeInstanceOf(ValidationError);
      const issue = (caught as ValidationError).issues[0];
      expect(issue?.field).toBe('objects');
      expect(issue?.message).toContain('file:<path>');
    }
  });
});
