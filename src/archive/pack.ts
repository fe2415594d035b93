/**
 * Packing a directory into a deterministic .tar.gz: for `berth deploy <dir>` (same bytes for
 * the same tree, so an identical redeploy has the same sha256) and for the daemon's state
 * snapshots.
 *
 * Decisions for `berth deploy <dir>`: `.git`, `__pycache__`, `.venv` and `.berth` are left
 * out (version control, caches, local environments and Berth's own data directory are not
 * part of a bot); relative symlinks that stay inside the directory are kept as symlinks; a
 * symlink that points outside (or is absolute), or a socket/FIFO/device, stops the packing
 * with an error naming it, because silently dropping or following it would ship a bot that
 * differs from what the user sees.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdtemp, readdir, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type tarStream from 'tar-stream';
import { PackageLimitError, PackageRejectedError } from '../domain/errors.js';
import { EntryLedger, SAFE_DIR_MODE, checkSymlinkTarget, formatBytes, safeFileMode } from './entry-rules.js';
import { resolveLimits, type PackageEntryType, type PackageLimits } from './types.js';

export interface TreeEntry {
  /** Relative, "/"-separated. */
  readonly path: string;
  readonly type: PackageEntryType;
  readonly executable: boolean;
  /** Files: size at the time of the walk. */
  readonly size: number;
  readonly target?: string;
}

export interface CollectOptions {
  /** Names (any depth) left out entirely. */
  readonly skipNames?: ReadonlySet<string>;
  /**
   * What to do with an escaping symlink or a special file: `throw` a PackageRejectedError,
   * or `skip` it (reported through onSkip).
   */
  readonly problems: 'throw' | 'skip';
  readonly onSkip?: (rel: string, reason: string) => void;
  readonly limits?: Partial<PackageLimits>;
}

export const DEPLOY_SKIP_NAMES: ReadonlySet<string> = new Set(['.git', '__pycache__', '.venv', '.berth']);

/** Every entry under `root` in sorted order (parents before children), checked by the package rules. */
export async function collectTree(root: string, options: CollectOptions): Promise<TreeEntry[]> {
  const limits = resolveLimits(options.limits);
  const ledger = new EntryLedger(limits);
  const out: TreeEntry[] = [];
  let total = 0;
  const problem = (rel: string, reason: string): void => {
    if (options.problems === 'throw') throw new PackageRejectedError(reason, rel);
    options.onSkip?.(rel, reason);
  };

  async function walk(dirRel: string): Promise<void> {
    const abs = dirRel ? path.join(root, dirRel) : root;
    let names: string[];
    try {
      names = (await readdir(abs)).sort();
    } catch (err) {
      // A directory removed while walking (a bot rewriting its state) is simply gone.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && dirRel) return;
      throw err;
    }
    for (const name of names) {
      if (options.skipNames?.has(name)) continue;
      const rel = dirRel ? `${dirRel}/${name}` : name;
      let info;
      try {
        info = await lstat(path.join(root, rel));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      if (info.isDirectory()) {
        ledger.add(rel, 'dir');
        out.push({ path: rel, type: 'dir', executable: false, size: 0 });
        await walk(rel);
      } else if (info.isFile()) {
        total += info.size;
        if (total > limits.maxBytes) throw new PackageLimitError('bytes', `the directory holds more than the ${formatBytes(limits.maxBytes)} allowed`, rel);
        ledger.add(rel, 'file');
        out.push({ path: rel, type: 'file', executable: (info.mode & 0o111) !== 0, size: info.size });
      } else if (info.isSymbolicLink()) {
        const target = await readlink(path.join(root, rel));
        try {
          checkSymlinkTarget(rel, target);
        } catch {
          problem(rel, `symlink points outside the directory (to ${JSON.stringify(target)}); replace it with a copy of what it points to`);
          continue;
        }
        ledger.add(rel, 'symlink', target);
        out.push({ path: rel, type: 'symlink', executable: false, size: 0, target });
      } else {
        problem(rel, 'special files (sockets, FIFOs, devices) cannot be packed');
      }
    }
  }
  await walk('');
  ledger.finish();
  return out;
}

/** Fixed so that the same tree always gives the same bytes. */
const FIXED_MTIME = new Date(Date.UTC(2020, 0, 1));

/**
 * A file's bytes for the tar: given in memory, or streamed from disk with the size taken at
 * the walk (a file that changes size meanwhile makes the pack fail, never silently differ).
 */
export type FileSource = (entry: TreeEntry) => Promise<Buffer | Readable>;

export const streamFromDisk = (root: string): FileSource => async (entry) => createReadStream(path.join(root, entry.path));

/**
 * tar-stream (with streamx) is imported on the first pack: the in-container daemon packs
 * only when the bot's state changed, so a container start does not load it.
 */
async function loadTarStream(): Promise<typeof tarStream> {
  return (await import('tar-stream')).default;
}

/** Writes a deterministic .tar.gz of `entries` to `outFile`; returns its sha256 and size. */
export async function writeTarGz(outFile: string, entries: readonly TreeEntry[], source: FileSource): Promise<{ sha256: string; size: number }> {
  const pack = (await loadTarStream()).pack();
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  const written = pipeline(Readable.from(iterate(pack)), createGzip({ level: 6 }), tap, createWriteStream(outFile, { mode: 0o600 }));
  const feed = (async () => {
    for (const entry of entries) {
      const header = { name: entry.path, mtime: FIXED_MTIME, uid: 0, gid: 0, uname: '', gname: '' };
      if (entry.type === 'dir') {
        await addEntry(pack, { ...header, type: 'directory', mode: SAFE_DIR_MODE });
      } else if (entry.type === 'symlink') {
        await addEntry(pack, { ...header, type: 'symlink', linkname: entry.target ?? '', mode: 0o777 });
      } else {
        const body = await source(entry);
        const fileHeader = { ...header, type: 'file' as const, mode: safeFileMode(entry.executable) };
        if (Buffer.isBuffer(body)) await addEntry(pack, { ...fileHeader, size: body.length }, body);
        else await addStreamEntry(pack, { ...fileHeader, size: entry.size }, body, entry.path);
      }
    }
    pack.finalize();
  })();
  try {
    await Promise.all([feed, written]);
  } catch (err) {
    pack.destroy();
    throw err;
  }
  return { sha256: hash.digest('hex'), size };
}

async function* iterate(pack: tarStream.Pack): AsyncGenerator<Buffer> {
  for await (const chunk of pack as AsyncIterable<Buffer>) yield chunk;
}

type TarHeader = Partial<tarStream.Header> & { name: string };

function addEntry(pack: tarStream.Pack, header: TarHeader, body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (body) pack.entry(header, body, (err) => (err ? reject(err) : resolve()));
    else pack.entry(header, (err) => (err ? reject(err) : resolve()));
  });
}

async function addStreamEntry(pack: tarStream.Pack, header: TarHeader, body: Readable, rel: string): Promise<void> {
  let sink!: ReturnType<tarStream.Pack['entry']>;
  const done = new Promise<void>((resolve, reject) => {
    sink = pack.entry(header, (err) =>
      err ? reject(new PackageRejectedError(`the file changed while it was being packed (${err.message})`, rel, { cause: err })) : resolve(),
    );
  });
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (!sink.write(chunk)) await new Promise<void>((r) => sink.once('drain', () => r()));
    }
    sink.end(undefined);
  } catch (err) {
    sink.destroy(err as Error);
    throw err;
  }
  await done;
}

export interface PackedDirectory {
  /** A temporary .tar.gz; remove it (or call dispose) when done. */
  readonly file: string;
  readonly sha256: string;
  readonly size: number;
  readonly format: 'tar.gz';
  readonly entryCount: number;
  /** Removes the temporary file and its directory. Idempotent. */
  dispose(): Promise<void>;
}

/** Packs `dir` for `berth deploy <dir>` (see the decisions at the top of this file). */
export async function packDirectory(dir: string, options: { limits?: Partial<PackageLimits> } = {}): Promise<PackedDirectory> {
  const root = path.resolve(dir);
  if (!(await stat(root)).isDirectory()) throw new PackageRejectedError(`${root} is not a directory`);
  const entries = await collectTree(root, { skipNames: DEPLOY_SKIP_NAMES, problems: 'throw', ...(options.limits ? { limits: options.limits } : {}) });
  const tmp = await mkdtemp(path.join(tmpdir(), 'berth-pack-'));
  const file = path.join(tmp, 'package.tar.gz');
  const dispose = (): Promise<void> => rm(tmp, { recursive: true, force: true });
  try {
    const { sha256, size } = await writeTarGz(file, entries, streamFromDisk(root));
    return { file, sha256, size, format: 'tar.gz', entryCount: entries.length, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}
