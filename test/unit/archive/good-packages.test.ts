/**
 * Good packages — Python with vendor/, Node with node_modules/ (including the usual
 * node_modules/.bin symlink), as .zip (our writer and the `zip` CLI when present) and as
 * .tar.gz — inspect to the right entries and extract with safe modes.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { detectFormat, extractPackage, inspectPackage, packDirectory } from '../../../src/archive/index.js';
import { writeTarGz, writeZip } from './archive-builders.js';

let work: string;
beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'berth-good-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const PYTHON_FILES = {
  'main.py': 'import helper\n\ndef main(bot_id, config):\n    print(helper.greet(bot_id))\n',
  'vendor/helper/__init__.py': 'def greet(x):\n    return "hi " + x\n',
  'bot-config.yaml': 'name: py-bot\ntype: realtime\nruntime: python3.11\nentrypoints:\n  bot: main.py\n',
};
const NODE_FILES = {
  'index.mjs': "import left from 'leftpad';\nexport function main(id) { console.log(left(id)); }\n",
  'node_modules/leftpad/package.json': '{"name":"leftpad","main":"index.js"}\n',
  'node_modules/leftpad/index.js': 'module.exports = (s) => "  " + s;\n',
  'node_modules/leftpad/cli.js': '#!/usr/bin/env node\n',
};

async function makeDir(files: Record<string, string>): Promise<string> {
  const dir = path.join(work, 'src');
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), content);
  }
  return dir;
}

describe('good packages', () => {
  it('a python package with vendor/ as .zip: entries, sizes, manifest, sha256', async () => {
    const file = path.join(work, 'py.zip');
    await writeZip(file, [
      { name: 'vendor/', mode: 0o040755 },
      ...Object.entries(PYTHON_FILES).map(([name, data]) => ({ name, data })),
    ]);
    const info = await inspectPackage(file);
    expect(info.format).toBe('zip');
    expect(info.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(info.entries.map((e) => [e.path, e.type])).toEqual([
      ['vendor', 'dir'],
      ['main.py', 'file'],
      ['vendor/helper/__init__.py', 'file'],
      ['bot-config.yaml', 'file'],
    ]);
    expect(info.totalUncompressed).toBe(Object.values(PYTHON_FILES).reduce((n, s) => n + Buffer.byteLength(s), 0));
    expect(info.manifest).toEqual({ flavor: 'the0', name: 'py-bot', kind: 'live', runtime: 'python3.11', entrypoint: 'main.py' });

    const dest = path.join(work, 'out');
    await extractPackage(file, dest);
    expect(await readFile(path.join(dest, 'vendor/helper/__init__.py'), 'utf8')).toBe(PYTHON_FILES['vendor/helper/__init__.py']);
  });

  it('a node package with node_modules/ and a .bin symlink as .tar.gz', async () => {
    const file = path.join(work, 'node.tar.gz');
    await writeTarGz(file, [
      ...Object.entries(NODE_FILES).map(([name, data]) => ({ name: `./${name}`, data, mode: name.endsWith('cli.js') ? 0o755 : 0o644 })),
      { name: './node_modules/.bin/leftpad', type: 'symlink', linkname: '../leftpad/cli.js' },
    ]);
    const info = await inspectPackage(file);
    expect(info.format).toBe('tar.gz');
    expect(info.manifest).toBeUndefined();
    expect(info.entries.find((e) => e.path === 'node_modules/.bin/leftpad')).toMatchObject({ type: 'symlink', target: '../leftpad/cli.js' });

    const dest = path.join(work, 'out');
    await extractPackage(file, dest);
    expect(await readlink(path.join(dest, 'node_modules/.bin/leftpad'))).toBe('../leftpad/cli.js');
    expect((await lstat(path.join(dest, 'node_modules/leftpad/cli.js'))).mode & 0o777).toBe(0o755);
    expect((await lstat(path.join(dest, 'index.mjs'))).mode & 0o777).toBe(0o644);
    expect((await lstat(path.join(dest, 'node_modules'))).mode & 0o777).toBe(0o755);
  });

  it('never extracts world-writable or setuid files, whatever the archive says', async () => {
    const file = path.join(work, 'modes.tar.gz');
    await writeTarGz(file, [
      { name: 'open.txt', data: 'x', mode: 0o777 },
      { name: 'suid', data: 'x', mode: 0o4755 },
      { name: 'dir', type: 'directory', mode: 0o777 },
    ]);
    const dest = path.join(work, 'out');
    const oldMask = process.umask(0o077);
    try {
      await extractPackage(file, dest);
    } finally {
      process.umask(oldMask);
    }
    expect((await lstat(path.join(dest, 'open.txt'))).mode & 0o7777).toBe(0o755);
    expect((await lstat(path.join(dest, 'suid'))).mode & 0o7777).toBe(0o755);
    expect((await lstat(path.join(dest, 'dir'))).mode & 0o7777).toBe(0o755);
  });

  it.skipIf(!existsSync('/usr/bin/zip'))('a package made by the zip CLI (with a relative symlink) inspects and extracts', async () => {
    const dir = await makeDir(NODE_FILES);
    await mkdir(path.join(dir, 'node_modules/.bin'));
    await symlink('../leftpad/cli.js', path.join(dir, 'node_modules/.bin/leftpad'));
    const file = path.join(work, 'cli.zip');
    execFileSync('zip', ['-qry', file, '.'], { cwd: dir });
    const info = await inspectPackage(file);
    expect(info.entries.find((e) => e.path === 'node_modules/.bin/leftpad')?.type).toBe('symlink');
    const dest = path.join(work, 'out');
    await extractPackage(file, dest);
    expect(await readFile(path.join(dest, 'node_modules/.bin/leftpad'), 'utf8')).toBe(NODE_FILES['node_modules/leftpad/cli.js']);
  });

  it('a package made by GNU tar (long names, ./ prefix) inspects and extracts', async () => {
    const long = `${'deep/'.repeat(30)}file-with-a-rather-long-name-${'x'.repeat(120)}.txt`;
    const dir = await makeDir({ ...PYTHON_FILES, [long]: 'deep' });
    const file = path.join(work, 'gnu.tar.gz');
    execFileSync('tar', ['-czf', file, '-C', dir, '.']);
    const info = await inspectPackage(file);
    expect(info.entries.find((e) => e.path === long)?.size).toBe(4);
    expect(info.manifest?.name).toBe('py-bot');
    const dest = path.join(work, 'out');
    await extractPackage(file, dest);
    expect(await readFile(path.join(dest, long), 'utf8')).toBe('deep');
  });
});

describe('detectFormat', () => {
  it('tells zip from gzip by magic bytes, and explains an uncompressed tar', () => {
    expect(detectFormat(Buffer.from([0x50, 0x4b, 0x03, 0x04, 0]))).toBe('zip');
    expect(detectFormat(Buffer.from([0x1f, 0x8b, 8, 0]))).toBe('tar.gz');
    const tar = Buffer.alloc(512);
    tar.write('ustar', 257, 'latin1');
    expect(() => detectFormat(tar)).toThrow(/uncompressed \.tar/);
    expect(() => detectFormat(Buffer.alloc(0))).toThrow(/empty/);
  });
});

describe('packDirectory', () => {
  it('is deterministic, skips .git and __pycache__, keeps inside symlinks and exec bits', async () => {
    const dir = await makeDir({ ...PYTHON_FILES, '.git/HEAD': 'ref', '__pycache__/main.cpython-311.pyc': 'x', 'run.sh': '#!/bin/sh\n' });
    await chmod(path.join(dir, 'run.sh'), 0o755);
    await symlink('main.py', path.join(dir, 'alias.py'));
    const a = await packDirectory(dir);
    const b = await packDirectory(dir);
    try {
      expect(a.sha256).toBe(b.sha256);
      const info = await inspectPackage(a.file);
      expect(info.sha256).toBe(a.sha256);
      expect(info.size).toBe(a.size);
      const paths = info.entries.map((e) => e.path);
      expect(paths).not.toContain('.git');
      expect(paths.some((p) => p.includes('__pycache__'))).toBe(false);
      expect(info.entries.find((e) => e.path === 'alias.py')).toMatchObject({ type: 'symlink', target: 'main.py' });
      expect(info.entries.find((e) => e.path === 'run.sh')).toMatchObject({ executable: true });
      expect(info.manifest?.entrypoint).toBe('main.py');
    } finally {
      await a.dispose();
      await b.dispose();
    }
    expect(existsSync(a.file)).toBe(false);
  });

  it('refuses a symlink that points outside the directory, naming it', async () => {
    const dir = await makeDir({ 'main.py': 'x' });
    await symlink('/etc/passwd', path.join(dir, 'passwd'));
    await expect(packDirectory(dir)).rejects.toThrow(/symlink points outside the directory.*\(entry "passwd"\)/);
  });

  it('refuses a directory larger than the cap', async () => {
    const dir = await makeDir({ 'a.bin': 'x'.repeat(2048) });
    await expect(packDirectory(dir, { limits: { maxBytes: 1024 } })).rejects.toThrow(/more than the 1 KiB allowed/);
  });
});
