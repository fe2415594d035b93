import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RootFs } from '../../../src/image/rootfs.js';

interface Extracted {
  readonly name: string;
  readonly type: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly linkname?: string | null;
  readonly content: string;
}

async function extract(stream: Readable): Promise<Extracted[]> {
  const out: Extracted[] = [];
  const ex = tar.extract();
  stream.on('error', (err) => ex.destroy(err));
  stream.pipe(ex as unknown as NodeJS.WritableStream);
  for await (const entry of ex) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    const h = entry.header;
    out.push({ name: h.name, type: h.type, mode: h.mode, uid: h.uid, gid: h.gid, linkname: h.linkname, content: Buffer.concat(chunks).toString('utf8') });
  }
  return out;
}

describe('RootFs', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-rootfs-'));
    await writeFile(join(dir, 'tool'), 'host tool bytes', { mode: 0o750 });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes a tar with parents before children, modes, owners, contents and merged-/usr links', async () => {
    const fs = new RootFs();
    fs.dir('/state', 0o755, { uid: 10001, gid: 10001 });
    fs.dir('/tmp', 0o1777);
    fs.file('/bin/tool', join(dir, 'tool'));
    fs.content('/opt/berth/bootstrap.sh', '#!/bin/sh\n', 0o755);
    fs.symlink('usr/bin/sh', 'dash');
    const entries = await extract(fs.toTar());
    const byName = new Map(entries.map((e) => [e.name, e]));

    const names = entries.map((e) => e.name);
    for (const [i, name] of names.entries()) {
      const parent = name.split('/').slice(0, -1).join('/');
      if (parent) expect(names.indexOf(parent), `${parent} before ${name}`).toBeLessThan(i);
    }
    expect(byName.get('bin')).toMatchObject({ type: 'symlink', linkname: 'usr/bin' });
    expect(byName.get('lib64')).toMatchObject({ type: 'symlink', linkname: 'usr/lib64' });
    // /bin/tool is stored under /usr, with the host file's mode and bytes.
    expect(byName.has('bin/tool')).toBe(false);
    expect(byName.get('usr/bin/tool')).toMatchObject({ type: 'file', mode: 0o750, content: 'host tool bytes' });
    expect(byName.get('state')).toMatchObject({ type: 'directory', uid: 10001, gid: 10001, mode: 0o755 });
    expect(byName.get('tmp')).toMatchObject({ type: 'directory', mode: 0o1777 });
    expect(byName.get('opt/berth/bootstrap.sh')).toMatchObject({ type: 'file', mode: 0o755, content: '#!/bin/sh\n' });
    expect(byName.get('opt')).toMatchObject({ type: 'directory', mode: 0o755, uid: 0 });
    expect(byName.get('usr/bin/sh')).toMatchObject({ type: 'symlink', linkname: 'dash' });
  });

  it('the first file added at a path wins; remove takes it out', async () => {
    const fs = new RootFs();
    fs.content('etc/a', 'first');
    fs.file('etc/a', join(dir, 'tool'));
    fs.content('etc/b', 'gone');
    fs.remove('etc/b');
    const entries = await extract(fs.toTar());
    expect(entries.find((e) => e.name === 'etc/a')?.content).toBe('first');
    expect(entries.some((e) => e.name === 'etc/b')).toBe(false);
    expect(await fs.contentBytes()).toBe('first'.length);
  });

  it('a host file that vanished fails the tar stream instead of producing a short image', async () => {
    const fs = new RootFs();
    fs.file('usr/bin/ghost', join(dir, 'does-not-exist'));
    await expect(extract(fs.toTar())).rejects.toThrow(/ENOENT/);
  });
});
