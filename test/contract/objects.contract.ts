/**
 * Conformance suite of the ObjectStore port (src/ports/objects.ts). Every adapter runs
 * exactly this suite: `objectStoreContract('fs', async () => ({ store, cleanup }))`.
 * The factory returns a fresh, empty store (initialised or not: the suite calls init()).
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/errors.js';
import type { ObjectInfo, ObjectStore } from '../../src/ports/objects.js';

export interface ObjectStoreFixture {
  readonly store: ObjectStore;
  cleanup(): Promise<void>;
}

export const INVALID_KEYS = ['', '/abs', 'a//b', 'a/./b', 'a/../b', '..', '.', 'a/', 'a\\b', 'a\0b'] as const;

export function objectStoreContract(name: string, make: () => Promise<ObjectStoreFixture>): void {
  describe(`ObjectStore contract: ${name}`, () => {
    let fixture: ObjectStoreFixture;
    let store: ObjectStore;

    beforeEach(async () => {
      fixture = await make();
      store = fixture.store;
      await store.init();
    });
    afterEach(async () => {
      await store.close();
      await fixture.cleanup();
    });

    it('init is idempotent and ping succeeds on a reachable store', async () => {
      await store.init();
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('round-trips a buffer through get, getStream and stat', async () => {
      const body = randomBytes(10_000);
      await store.put('state/b1/state.tar.gz', body);
      expect((await store.get('state/b1/state.tar.gz'))?.equals(body)).toBe(true);
      const stream = await store.getStream('state/b1/state.tar.gz');
      expect(stream).not.toBeNull();
      expect((await collect(stream as Readable)).equals(body)).toBe(true);
      const info = await store.stat('state/b1/state.tar.gz');
      expect(info?.key).toBe('state/b1/state.tar.gz');
      expect(info?.size).toBe(body.length);
      expect(info?.modifiedAt).toBeInstanceOf(Date);
    });

    it('round-trips a stream put with its size, and an empty object', async () => {
      const body = randomBytes(300_000);
      await store.put('code/b1/x.zip', Readable.from(chunksOf(body, 7_000)), body.length);
      expect((await store.get('code/b1/x.zip'))?.equals(body)).toBe(true);
      await store.put('runs/b1/empty.json', Buffer.alloc(0));
      expect((await store.get('runs/b1/empty.json'))?.length).toBe(0);
      expect((await store.stat('runs/b1/empty.json'))?.size).toBe(0);
    });

    it('read gives an object of at most inMemoryUpTo bytes in memory and a larger one as a stream', async () => {
      const body = randomBytes(10_000);
      await store.put('code/b1/p.tar.gz', body);
      const whole = await store.read('code/b1/p.tar.gz', body.length);
      expect(whole && 'bytes' in whole && whole.bytes.equals(body)).toBe(true);
      const streamed = await store.read('code/b1/p.tar.gz', body.length - 1);
      expect(streamed && 'stream' in streamed).toBe(true);
      expect((await collect((streamed as { stream: Readable }).stream)).equals(body)).toBe(true);
      await store.put('code/b1/empty', Buffer.alloc(0));
      const empty = await store.read('code/b1/empty', 0);
      expect(empty && 'bytes' in empty && empty.bytes.length).toBe(0);
    });

    it('returns null for missing keys from get, getStream, read and stat', async () => {
      await store.put('state/b1/other', Buffer.from('x'));
      expect(await store.get('state/b1/missing')).toBeNull();
      expect(await store.getStream('state/b1/missing')).toBeNull();
      expect(await store.read('state/b1/missing', 1024)).toBeNull();
      expect(await store.stat('state/b1/missing')).toBeNull();
      expect(await store.get('nowhere/at/all')).toBeNull();
    });

    it('replaces an object as a whole', async () => {
      await store.put('state/b1/s', Buffer.from('first version, longer'));
      await store.put('state/b1/s', Buffer.from('second'));
      expect((await store.get('state/b1/s'))?.toString()).toBe('second');
      expect((await store.stat('state/b1/s'))?.size).toBe(6);
    });

    it('rejects a stream whose length differs from the given size, keeping the old object', async () => {
      await store.put('state/b1/s', Buffer.from('old'));
      await expect(store.put('state/b1/s', Readable.from([Buffer.from('12345')]), 4)).rejects.toThrow();
      await expect(store.put('state/b1/s', Readable.from([Buffer.from('12')]), 4)).rejects.toThrow();
      expect((await store.get('state/b1/s'))?.toString()).toBe('old');
      await expect(store.put('state/b1/new', Readable.from([Buffer.from('12')]), 3)).rejects.toThrow();
      expect(await store.stat('state/b1/new')).toBeNull();
    });

    it('never lets a concurrent reader see a partial object', async () => {
      const size = 4 * 1024 * 1024;
      const versions = 12;
      // Every version is one repeated byte, so any mix of two versions or a short read shows.
      const uniform = (v: number) => Buffer.alloc(size, v);
      await store.put('state/b1/big', uniform(0));
      let writing = true;
      const reads: { length: number; first: number; uniform: boolean }[] = [];
      const reader = (async () => {
        while (writing || reads.length < 5) {
          const got = await store.get('state/b1/big');
          if (!got) throw new Error('object vanished while being replaced');
          const first = got[0] ?? -1;
          reads.push({ length: got.length, first, uniform: got.every((b) => b === first) });
        }
      })();
      try {
        for (let v = 1; v <= versions; v++) {
          await store.put('state/b1/big', Readable.from(chunksOf(uniform(v), 256 * 1024)), size);
        }
      } finally {
        writing = false;
      }
      await reader;
      expect(reads.length).toBeGreaterThanOrEqual(5);
      for (const r of reads) expect(r).toEqual({ length: size, first: r.first, uniform: true });
      expect((await store.get('state/b1/big'))?.[0]).toBe(versions);
    });

    it('keeps one whole writer when two put the same key at once', async () => {
      const a = Buffer.alloc(2 * 1024 * 1024, 0xaa);
      const b = Buffer.alloc(2 * 1024 * 1024, 0xbb);
      await Promise.all([
        store.put('state/b1/race', Readable.from(chunksOf(a, 64 * 1024)), a.length),
        store.put('state/b1/race', Readable.from(chunksOf(b, 64 * 1024)), b.length),
      ]);
      const got = await store.get('state/b1/race');
      expect(got?.equals(a) || got?.equals(b)).toBe(true);
      expect(await keys(store.list('state/b1/'))).toEqual(['state/b1/race']);
    });

    it('streams a 64 MB put without holding it in memory', async () => {
      const chunk = randomBytes(64 * 1024);
      const chunkCount = 1024;
      const size = chunk.length * chunkCount;
      const expected = createHash('sha256');
      for (let i = 0; i < chunkCount; i++) expected.update(chunk);
      // The producer pushes the same chunk again and again, so any growth is the adapter's.
      let sent = 0;
      const source = new Readable({
        read() {
          this.push(sent++ < chunkCount ? chunk : null);
        },
      });
      const baseline = memoryInUse();
      let peak = baseline;
      const sampler = setInterval(() => (peak = Math.max(peak, memoryInUse())), 5);
      try {
        await store.put('code/b1/large.tar.gz', source, size);
      } finally {
        clearInterval(sampler);
      }
      peak = Math.max(peak, memoryInUse());
      expect(peak - baseline).toBeLessThan(size / 4);
      expect((await store.stat('code/b1/large.tar.gz'))?.size).toBe(size);
      const stream = await store.getStream('code/b1/large.tar.gz');
      const actual = createHash('sha256');
      for await (const part of stream as Readable) actual.update(part as Buffer);
      expect(actual.digest('hex')).toBe(expected.digest('hex'));
    }, 120_000);

    it('lists recursively in lexicographic key order', async () => {
      const all = [
        'logs/a/2024-01-02/0001.ndjson',
        'logs/a/2024-01-01/0002.ndjson',
        'logs/a/2024-01-01/0001.ndjson',
        'logs/a.txt',
        'logs/a-b/x',
        'logs/ab/y',
        'logs/a/b',
        'logs/a/B',
        'state/a/state.tar.gz',
        'code/a/1.zip',
      ];
      for (const key of all) await store.put(key, Buffer.from(key));
      const sorted = [...all].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      expect(await keys(store.list(''))).toEqual(sorted);
      expect(await keys(store.list('logs/'))).toEqual(sorted.filter((k) => k.startsWith('logs/')));
      const listed: ObjectInfo[] = [];
      for await (const info of store.list('logs/a/2024-01-01/')) listed.push(info);
      expect(listed.map((i) => [i.key, i.size])).toEqual([
        ['logs/a/2024-01-01/0001.ndjson', 'logs/a/2024-01-01/0001.ndjson'.length],
        ['logs/a/2024-01-01/0002.ndjson', 'logs/a/2024-01-01/0002.ndjson'.length],
      ]);
    });

    it('lists in order across many files and directories', async () => {
      const byBytes = (list: readonly string[]) => [...list].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      const many = Array.from({ length: 150 }, (_, i) => `logs/m/${i % 3 === 0 ? `d${i % 7}/` : ''}${String(i).padStart(4, '0')}`);
      for (const key of many) await store.put(key, Buffer.from(key));
      expect(await keys(store.list('logs/m/'))).toEqual(byBytes(many));
      // Stopping early is allowed and leaves nothing behind that breaks the next listing.
      for await (const info of store.list('logs/m/')) {
        expect(info.key).toBe(byBytes(many)[0]);
        break;
      }
      expect(await keys(store.list('logs/m/d3/'))).toEqual(byBytes(many.filter((k) => k.startsWith('logs/m/d3/'))));
    });

    it('keeps prefixes apart: logs/a/ does not list logs/ab/', async () => {
      for (const key of ['logs/a/1', 'logs/a/2', 'logs/ab/1', 'logs/a.txt', 'logs/b/1']) await store.put(key, Buffer.from('x'));
      expect(await keys(store.list('logs/a/'))).toEqual(['logs/a/1', 'logs/a/2']);
      expect(await keys(store.list('logs/ab/'))).toEqual(['logs/ab/1']);
      // A prefix is a plain string prefix of the key, as in S3.
      expect(await keys(store.list('logs/a'))).toEqual(['logs/a.txt', 'logs/a/1', 'logs/a/2', 'logs/ab/1']);
    });

    it('lists nothing under a missing prefix', async () => {
      await store.put('logs/a/1', Buffer.from('x'));
      expect(await keys(store.list('logs/zzz/'))).toEqual([]);
      expect(await keys(store.list('nothing/here/'))).toEqual([]);
    });

    it('deletes idempotently', async () => {
      await store.put('state/b1/s', Buffer.from('x'));
      await store.delete('state/b1/s');
      expect(await store.get('state/b1/s')).toBeNull();
      await expect(store.delete('state/b1/s')).resolves.toBeUndefined();
      await expect(store.delete('never/existed')).resolves.toBeUndefined();
      expect(await keys(store.list(''))).toEqual([]);
    });

    it('deletes a prefix and nothing outside it', async () => {
      for (const key of ['logs/a/d1/1', 'logs/a/d1/2', 'logs/a/d2/1', 'logs/ab/1', 'state/a/s']) {
        await store.put(key, Buffer.from('x'));
      }
      expect(await store.deletePrefix('logs/a/')).toBe(3);
      expect(await keys(store.list(''))).toEqual(['logs/ab/1', 'state/a/s']);
      expect(await store.deletePrefix('logs/a/')).toBe(0);
      expect(await store.deletePrefix('missing/')).toBe(0);
      // A deleted prefix can be written again.
      await store.put('logs/a/d1/1', Buffer.from('again'));
      expect((await store.get('logs/a/d1/1'))?.toString()).toBe('again');
    });

    it('rejects invalid keys with a ValidationError', async () => {
      for (const key of INVALID_KEYS) {
        await expect(store.put(key, Buffer.from('x')), `put ${JSON.stringify(key)}`).rejects.toBeInstanceOf(ValidationError);
        await expect(store.get(key), `get ${JSON.stringify(key)}`).rejects.toBeInstanceOf(ValidationError);
        await expect(store.getStream(key), `getStream ${JSON.stringify(key)}`).rejects.toBeInstanceOf(ValidationError);
        await expect(store.read(key, 1024), `read ${JSON.stringify(key)}`).rejects.toBeInstanceOf(ValidationError);
        await expect(store.stat(key), `stat ${JSON.stringify(key)}`).rejects.toBeInstanceOf(ValidationError);
        await expect(store.delete(key), `delete ${JSON.stringify(key)}`).rejects.toBeInstanceOf(ValidationError);
      }
      for (const prefix of ['/abs/', 'a//', '../', 'a/../', 'a\\b/']) {
        await expect(keys(store.list(prefix)), `list ${JSON.stringify(prefix)}`).rejects.toBeInstanceOf(ValidationError);
        await expect(store.deletePrefix(prefix), `deletePrefix ${JSON.stringify(prefix)}`).rejects.toBeInstanceOf(ValidationError);
      }
    });

    it('stores nothing when a put is aborted', async () => {
      const controller = new AbortController();
      let sent = 0;
      const source = new Readable({
        read() {
          sent++;
          if (sent === 3) controller.abort();
          this.push(sent < 100 ? Buffer.alloc(64 * 1024, 1) : null);
        },
      });
      await expect(store.put('state/b1/aborted', source, 99 * 64 * 1024, controller.signal)).rejects.toThrow();
      expect(await store.stat('state/b1/aborted')).toBeNull();
      expect(await keys(store.list('state/'))).toEqual([]);
      const already = AbortSignal.abort();
      await expect(store.put('state/b1/pre', Buffer.from('x'), undefined, already)).rejects.toThrow();
      expect(await store.stat('state/b1/pre')).toBeNull();
    });

    it('stores nothing when the source stream fails', async () => {
      let sent = 0;
      const source = new Readable({
        read() {
          if (++sent > 3) this.destroy(new Error('source broke'));
          else this.push(Buffer.alloc(1024, 2));
        },
      });
      await expect(store.put('state/b1/broken', source, 10 * 1024)).rejects.toThrow();
      expect(await keys(store.list(''))).toEqual([]);
    });

    it('tells a daemon how to reach the store', async () => {
      for (const where of ['container', 'host'] as const) {
        const access = await store.daemonAccess('b1', where);
        expect(access.env.BERTH_DAEMON_OBJECTS, where).toMatch(/^[a-z0-9+]+:/);
        for (const mount of access.mounts) expect(mount.target.startsWith('/var/berth/objects/'), where).toBe(true);
      }
      await expect(store.daemonAccess('../etc', 'container')).rejects.toBeInstanceOf(ValidationError);
    });

    it('close is idempotent', async () => {
      await store.close();
      await expect(store.close()).resolves.toBeUndefined();
    });
  });
}

export function* chunksOf(buffer: Buffer, size: number): Generator<Buffer> {
  for (let offset = 0; offset < buffer.length; offset += size) yield buffer.subarray(offset, offset + size);
}

export async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

export async function keys(list: AsyncIterable<ObjectInfo>): Promise<string[]> {
  const out: string[] = [];
  for await (const info of list) out.push(info.key);
  return out;
}

/** JS heap plus Buffers: a buffering adapter shows up in one or the other. */
function memoryInUse(): number {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}
