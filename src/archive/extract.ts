/**
 * Extracts a package with the same rules as inspection enforced again on the way (defence
 * in depth). Nothing can be written outside `destDir`: paths are normalised and checked,
 * files are created with O_EXCL|O_NOFOLLOW inside directories this function made itself,
 * and symlinks are created only at the very end, after the whole package passed, so no
 * entry can ever be written through one. On any failure `destDir` is emptied again.
 */
import { constants } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, realpath, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { BerthError, PackageRejectedError } from '../domain/errors.js';
import { detectFileFormat } from './detect.js';
import { SAFE_DIR_MODE, safeFileMode } from './entry-rules.js';
import { resolveLimits, type ArchiveFormat, type PackageLimits, type ReadOptions } from './types.js';
import { walkPackage } from './walk.js';

export interface ExtractResult {
  readonly format: ArchiveFormat;
  readonly entryCount: number;
  readonly totalUncompressed: number;
}

const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** `destDir` is created when missing and must be empty. */
export async function extractPackage(file: string, destDir: string, limits?: Partial<PackageLimits>, options: ReadOptions = {}): Promise<ExtractResult> {
  const resolved = resolveLimits(limits);
  const format = await detectFileFormat(file);
  await mkdir(destDir, { recursive: true, mode: SAFE_DIR_MODE });
  const root = await realpath(destDir);
  if ((await readdir(root)).length > 0) throw new BerthError(`cannot extract into ${root}: the directory is not empty`);

  const dirs = new DirMaker(root);
  const links: { abs: string; rel: string; target: string }[] = [];
  try {
    const result = await walkPackage(file, format, resolved, async (entry, body) => {
      const abs = inside(root, entry.path);
      if (entry.type === 'dir') {
        await dirs.ensure(entry.path);
        return;
      }
      await dirs.ensure(path.posix.dirname(entry.path));
      if (entry.type === 'symlink') {
        links.push({ abs, rel: entry.path, target: entry.target ?? '' });
        return;
      }
      await writeFile(abs, entry.path, safeFileMode(entry.executable), body);
    }, options);
    // walkPackage has checked the symlinks as a set by now.
    for (const link of links) await symlink(link.target, link.abs);
    return { format, entryCount: result.entryCount, totalUncompressed: result.totalUncompressed };
  } catch (err) {
    await emptyDirectory(root);
    throw err;
  }
}

function inside(root: string, rel: string): string {
  const abs = path.join(root, rel);
  if (!abs.startsWith(root + path.sep)) throw new PackageRejectedError('path leaves the package', rel);
  return abs;
}

async function writeFile(abs: string, rel: string, mode: number, body: AsyncIterable<Buffer>): Promise<void> {
  let handle;
  try {
    handle = await open(abs, CREATE_FLAGS, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' || (err as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new PackageRejectedError('duplicate entry: the path already exists', rel, { cause: err });
    }
    throw err;
  }
  try {
    for await (const chunk of body) await handle.write(chunk);
    await handle.chmod(mode); // the umask must not decide what the bot user can read
  } finally {
    await handle.close();
  }
}

/** Creates directories component by component, refusing anything that is not a real directory. */
class DirMaker {
  private readonly made = new Set<string>(['', '.']);
  constructor(private readonly root: string) {}

  async ensure(rel: string): Promise<void> {
    if (this.made.has(rel)) return;
    const parts = rel.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const sub = parts.slice(0, i).join('/');
      if (this.made.has(sub)) continue;
      const abs = inside(this.root, sub);
      try {
        await mkdir(abs, { mode: SAFE_DIR_MODE });
        await chmod(abs, SAFE_DIR_MODE);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (!(await lstat(abs)).isDirectory()) throw new PackageRejectedError('entry needs a directory where the package has a file', sub);
      }
      this.made.add(sub);
    }
  }
}

async function emptyDirectory(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(names.map((n) => rm(path.join(dir, n), { recursive: true, force: true })));
}
