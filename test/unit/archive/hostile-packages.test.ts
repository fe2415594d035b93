/**
 * Hostile packages are refused by inspection and by extraction, with a reason that names
 * the entry, and nothing is ever written outside the destination.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractPackage, inspectPackage } from '../../../src/archive/index.js';
import { readZip } from '../../../src/archive/zip-reader.js';
import { PackageRejectedError } from '../../../src/domain/errors.js';
import { deflatedZeros, writeTarGz, writeZip, type TarItem, type ZipItem } from './archive-builders.js';

let sandbox: string;
let dest: string;

beforeEach(async () => {
  sandbox = await mkdtemp(path.join(tmpdir(), 'berth-hostile-'));
  dest = path.join(sandbox, 'inside', 'dest');
});
afterEach(async () => {
  await rm(sandbox, { recursive: true, force: true });
});

/** Everything under the sandbox except the (empty) destination itself. */
async function strayFiles(): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (p === path.join(sandbox, 'pkg.zip') || p === path.join(sandbox, 'pkg.tar.gz')) continue;
      if (e.isDirectory() && !e.isSymbolicLink()) {
        if (p !== path.join(sandbox, 'inside') && p !== dest) out.push(p);
        await walk(p);
      } else {
        out.push(p);
      }
    }
  };
  await walk(sandbox);
  return out;
}

async function expectRejected(file: string, pattern: RegExp, entry?: string): Promise<void> {
  const inspected = await inspectPackage(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(inspected).toBeInstanceOf(PackageRejectedError);
  expect((inspected as Error).message).toMatch(pattern);
  if (entry !== undefined) expect((inspected as PackageRejectedError).entry).toBe(entry);
  expect((inspected as Error).message.split('\n')).toHaveLength(1);

  // Streamed, and read whole in memory as the daemon does for small packages: the same rules.
  for (const options of READ_MODES) {
    const extracted = await extractPackage(file, dest, undefined, options).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(extracted).toBeInstanceOf(PackageRejectedError);
    expect((extracted as Error).message).toMatch(pattern);
    expect(await readdir(dest).catch(() => [])).toEqual([]);
    expect(await strayFiles()).toEqual([]);
  }
}

const READ_MODES = [{}, { inMemoryUpTo: 8 * 1024 * 1024 }] as const;

const zip = async (items: ZipItem[]): Promise<string> => {
  const file = path.join(sandbox, 'pkg.zip');
  await writeZip(file, items);
  return file;
};
const tgz = async (items: TarItem[]): Promise<string> => {
  const file = path.join(sandbox, 'pkg.tar.gz');
  await writeTarGz(file, items);
  return file;
};

describe.each([
  ['zip', zip],
  ['tar.gz', tgz],
] as const)('hostile %s packages', (_format, make) => {
  it('refuses ../ entries', async () => {
    await expectRejected(await make([{ name: 'main.py', data: 'x' }, { name: '../../escape.txt', data: 'owned' }]), /"\.\." in a path/, '../../escape.txt');
  });

  it('refuses a ../ hidden in the middle of a path', async () => {
    await expectRejected(await make([{ name: 'a/b/../../../escape.txt', data: 'owned' }]), /"\.\." in a path/);
  });

  it('refuses absolute paths', async () => {
    await expectRejected(await make([{ name: '/tmp/escape.txt', data: 'owned' }]), /absolute paths are not allowed/, '/tmp/escape.txt');
  });

  it('refuses a symlink to /etc', async () => {
    const items = _format === 'zip' ? [{ name: 'etc', data: '/etc', mode: 0o120777 }] : [{ name: 'etc', type: 'symlink' as const, linkname: '/etc' }];
    await expectRejected(await make(items as never), /symlink points outside the package/, 'etc');
  });

  it('refuses a relative symlink that climbs out', async () => {
    const items = _format === 'zip' ? [{ name: 'sub/up', data: '../../..', mode: 0o120777 }] : [{ name: 'sub/up', type: 'symlink' as const, linkname: '../../..' }];
    await expectRejected(await make(items as never), /symlink points outside the package/, 'sub/up');
  });

  it('refuses a file written through a symlink entry (symlink first, then the file)', async () => {
    const link = _format === 'zip' ? { name: 'here', data: '.', mode: 0o120777 } : { name: 'here', type: 'symlink' as const, linkname: '.' };
    await expectRejected(await make([link, { name: 'here/evil.txt', data: 'owned' }] as never), /written through the symlink "here"/, 'here/evil.txt');
  });

  it('refuses the two-step escape "s -> ." then "t -> s/.." (lexically inside, physically outside)', async () => {
    const items =
      _format === 'zip'
        ? [{ name: 'd/s', data: '..', mode: 0o120777 }, { name: 'd/t', data: 's/..', mode: 0o120777 }]
        : [{ name: 'd/s', type: 'symlink' as const, linkname: '..' }, { name: 'd/t', type: 'symlink' as const, linkname: 's/..' }];
    await expectRejected(await make(items as never), /goes through another symlink/, 'd/t');
  });

  it('refuses a symlink replacing a directory that already has files', async () => {
    const link = _format === 'zip' ? { name: 'lib', data: '.', mode: 0o120777 } : { name: 'lib', type: 'symlink' as const, linkname: '.' };
    await expectRejected(await make([{ name: 'lib/a.py', data: 'x' }, link] as never), /duplicate entry/, 'lib');
  });

  it('refuses duplicate conflicting entries', async () => {
    await expectRejected(await make([{ name: 'main.py', data: 'one' }, { name: 'main.py', data: 'two' }]), /duplicate entry/, 'main.py');
  });

  it('refuses device entries', async () => {
    const items = _format === 'zip' ? [{ name: 'null', mode: 0o020644 }] : [{ name: 'null', type: 'character-device' as const }];
    await expectRejected(await make(items as never), /special files are not allowed \(character device\)/, 'null');
  });

  it('refuses more entries than the cap', async () => {
    const items = Array.from({ length: 30 }, (_, i) => ({ name: `f${i}.txt`, data: 'x' }));
    const file = await make(items);
    await expect(inspectPackage(file, { maxFiles: 20 })).rejects.toThrow(/more than (the )?20 (entries|allowed)|20 allowed/);
    for (const options of READ_MODES) {
      await expect(extractPackage(file, dest, { maxFiles: 20 }, options)).rejects.toThrow(PackageRejectedError);
      expect(await readdir(dest)).toEqual([]);
    }
  });

  it('refuses a package that expands beyond the byte cap, counting what is decompressed', async () => {
    const file = await make([{ name: 'a.bin', data: Buffer.alloc(600 * 1024) }, { name: 'b.bin', data: Buffer.alloc(600 * 1024) }]);
    await expect(inspectPackage(file, { maxBytes: 1024 * 1024 })).rejects.toThrow(/more than the 1 MiB allowed/);
    for (const options of READ_MODES) {
      await expect(extractPackage(file, dest, { maxBytes: 1024 * 1024 }, options)).rejects.toThrow(/more than the 1 MiB allowed/);
      expect(await readdir(dest)).toEqual([]);
    }
  });

  it('refuses a corrupt archive with a one-line reason', async () => {
    const file = await make([{ name: 'main.py', data: 'print(1)\n'.repeat(1000) }]);
    const { readFile, writeFile } = await import('node:fs/promises');
    const bytes = await readFile(file);
    await writeFile(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expectRejected(file, /corrupt/);
  });
});

describe('tar-only hostile entries', () => {
  it('refuses hard links', async () => {
    await expectRejected(await tgz([{ name: 'a.txt', data: 'x' }, { name: 'b.txt', type: 'link', linkname: 'a.txt' }]), /hard links are not allowed/, 'b.txt');
  });

  it('refuses FIFOs', async () => {
    await expectRejected(await tgz([{ name: 'pipe', type: 'fifo' }]), /special files are not allowed \(FIFO\)/, 'pipe');
  });

  it('refuses a 1 GB tar.gz bomb by its declared size', async () => {
    const file = await tgz([{ name: 'bomb.bin', zeros: 1024 * 1024 * 1024 }]);
    await expectRejected(file, /declares more than the 256 MiB allowed/, 'bomb.bin');
  }, 120_000);
});

describe('zip-only hostile entries', () => {
  it('refuses a 1 GB zip bomb without inflating it into memory', async () => {
    const deflated = await deflatedZeros(1024 * 1024 * 1024);
    expect(deflated.bytes.length).toBeLessThan(2 * 1024 * 1024);
    const file = await zip([{ name: 'bomb.bin', deflated }]);
    const rssBefore = process.memoryUsage().rss;
    await expectRejected(file, /declares 1\.0 GiB|more than the 256 MiB allowed/, 'bomb.bin');
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(128 * 1024 * 1024);
  }, 120_000);

  it('refuses a zip bomb whose headers lie about its size (counts the inflated bytes)', async () => {
    const deflated = await deflatedZeros(64 * 1024 * 1024);
    const file = await zip([{ name: 'liar.bin', deflated, declaredSize: 1000 }]);
    await expectRejected(file, /corrupt|more than/, 'liar.bin');
  }, 60_000);

  it('a lying bomb read late is a rejection of its entry, not an uncaught error (the consumer may be slow to read)', async () => {
    const deflated = await deflatedZeros(4 * 1024 * 1024);
    const file = await zip([{ name: 'liar.bin', deflated, declaredSize: 1000 }]);
    const items = readZip(file, { maxBytes: 64 * 1024 * 1024, maxFiles: 10 });
    const first = await items.next();
    expect(first.done).toBe(false);
    // What a visitor busy creating the destination file looks like to yauzl, which inflates
    // meanwhile: its size check fails before anyone reads. Without a listener from the
    // start that error was uncaught (vitest fails the run on it).
    await new Promise((resolve) => setTimeout(resolve, 100));
    const body = (first.value as { body: AsyncIterator<Buffer> }).body;
    await expect(body.next()).rejects.toBeInstanceOf(PackageRejectedError);
    await items.return(undefined);
  });

  it('refuses a lying bomb against the byte cap even when each header is small', async () => {
    const deflated = await deflatedZeros(8 * 1024 * 1024);
    const file = await zip([{ name: 'liar.bin', deflated, declaredSize: 8 * 1024 * 1024 }]);
    await expect(inspectPackage(file, { maxBytes: 4 * 1024 * 1024 })).rejects.toThrow(/declares|more than the 4 MiB allowed/);
  });

  it('refuses something that is not an archive at all', async () => {
    const { writeFile } = await import('node:fs/promises');
    const file = path.join(sandbox, 'pkg.zip');
    await writeFile(file, 'print("hello")\n');
    await expectRejected(file, /neither a \.zip nor a \.tar\.gz/);
  });
});

describe('destination', () => {
  it('must be empty', async () => {
    const file = await zip([{ name: 'main.py', data: 'x' }]);
    await extractPackage(file, dest);
    await expect(extractPackage(file, dest)).rejects.toThrow(/not empty/);
    expect((await stat(path.join(dest, 'main.py'))).isFile()).toBe(true);
  });
});
