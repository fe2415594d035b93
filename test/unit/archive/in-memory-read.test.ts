/**
 * ReadOptions.inMemoryUpTo (the daemon's small packages): a .tar.gz that fits is inflated
 * at once and extracts exactly as when streamed; one that does not fit, compressed or
 * inflated, is streamed as before, never held in memory past the cap.
 */
import { lstat, mkdtemp, readFile, readdir, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractPackage } from '../../../src/archive/index.js';
import { writeTarGz, type TarItem } from './archive-builders.js';

let work: string;

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'berth-in-memory-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Every entry under `dir` as `path mode [target]`, sorted. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(dir, { recursive: true })) {
    const abs = path.join(dir, name);
    const info = await lstat(abs);
    const extra = info.isSymbolicLink() ? ` -> ${await readlink(abs)}` : info.isFile() ? ` ${(await readFile(abs)).toString('base64').slice(0, 40)}` : '';
    out.push(`${name} ${(info.mode & 0o7777).toString(8)}${extra}`);
  }
  return out.sort();
}

async function tgz(items: TarItem[]): Promise<string> {
  const file = path.join(work, 'pkg.tar.gz');
  await writeTarGz(file, items);
  return file;
}

async function extractBoth(file: string, inMemoryUpTo: number): Promise<{ streamed: string[]; inMemory: string[] }> {
  const streamed = path.join(work, 'streamed');
  const inMemory = path.join(work, 'in-memory');
  await extractPackage(file, streamed);
  await extractPackage(file, inMemory, undefined, { inMemoryUpTo });
  return { streamed: await tree(streamed), inMemory: await tree(inMemory) };
}

describe('a .tar.gz read whole in memory', () => {
  it('extracts exactly as when streamed: files larger than one 64 KiB step, modes, directories, symlinks', async () => {
    const file = await tgz([
      { name: 'main.py', data: 'print("hi")\n' },
      { name: 'bin/run', data: '#!/bin/sh\n', mode: 0o755 },
      { name: 'data', type: 'directory' },
      { name: 'data/blob.bin', data: Buffer.alloc(300_000, 7) },
      { name: 'link', type: 'symlink', linkname: 'main.py' },
    ]);
    const { streamed, inMemory } = await extractBoth(file, 4 * 1024 * 1024);
    expect(inMemory).toEqual(streamed);
    expect(streamed).toHaveLength(6);
  });

  it('streams a package larger than the cap (compressed)', async () => {
    const file = await tgz([{ name: 'noise.bin', data: Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251)) }]);
    const { streamed, inMemory } = await extractBoth(file, 1024);
    expect(inMemory).toEqual(streamed);
  });

  it('streams a small package that inflates past the cap (a bomb costs at most the cap)', async () => {
    const file = await tgz([{ name: 'zeros.bin', zeros: 16 * 1024 * 1024 }]);
    const { streamed, inMemory } = await extractBoth(file, 1024 * 1024);
    expect(inMemory).toEqual(streamed);
  });
});
