/**
 * Object store on a local directory (DESIGN §2, §4): the embedded default, and what the
 * in-container daemon uses through per-bot bind mounts. Only Node built-ins here: this
 * module is bundled into the daemon.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants, type Dirent } from 'node:fs';
import { access, open, readdir, rename, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Transform, addAbortSignal, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CONTAINER_PATHS, DAEMON_ENV } from '../../../domain/daemon-contract.js';
import { BerthError, ConflictError, UnavailableError, ValidationError, errorMessage } from '../../../domain/errors.js';
import type { DaemonObjectAccess, ObjectBody, ObjectInfo, ObjectStore } from '../../../ports/objects.js';
import { assertValidKey, assertValidPrefix, compareKeys, isTempName, tempNameFor } from './keys.js';
import { OwnershipPolicy } from './ownership.js';

export interface FsObjectStoreOptions {
  /** When running as root, chown new files/dirs to the owner of the directory they are created in. */
  readonly matchParentOwner?: boolean;
}

/** Same rule as BOT_ID_PATTERN in src/domain/bot.ts (not imported: it would pull zod into the daemon bundle). */
const BOT_ID = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** The prefixes a bot container mounts, and whether the daemon may write them. */
const DAEMON_MOUNTED_PREFIXES = [
  { top: 'code', readOnly: true },
  { top: 'state', readOnly: false },
  { top: 'logs', readOnly: false },
] as const;

/** A put retries when a concurrent delete pruned the directory between mkdir and open. */
const PUT_ATTEMPTS = 3;

export class FsObjectStore implements ObjectStore {
  /** Absolute. */
  readonly root: string;
  private readonly ownership: OwnershipPolicy;

  constructor(root: string, options: FsObjectStoreOptions = {}) {
    this.root = path.resolve(root);
    this.ownership = new OwnershipPolicy(options.matchParentOwner ?? false);
  }

  async daemonAccess(botId: string, where: 'container' | 'host'): Promise<DaemonObjectAccess> {
    if (!BOT_ID.test(botId)) throw ValidationError.single('botId', `${JSON.stringify(botId)} is not a valid bot id`);
    if (where === 'host') {
      return { env: { [DAEMON_ENV.objects]: `file:${this.root}` }, mounts: [] };
    }
    const mounts = [];
    for (const { top, readOnly } of DAEMON_MOUNTED_PREFIXES) {
      const source = path.join(this.root, top, botId);
      await fsCall(`create ${source}`, () => this.ownership.ensureDir(source));
      mounts.push({ source, target: path.posix.join(CONTAINER_PATHS.objectsDir, top, botId), readOnly });
    }
    return { env: { [DAEMON_ENV.objects]: `file:${CONTAINER_PATHS.objectsDir}` }, mounts };
  }

  async init(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    await fsCall(`create ${this.root}`, () => this.ownership.ensureDir(this.root));
  }

  async put(key: string, body: Buffer | Readable, size?: number, signal?: AbortSignal): Promise<void> {
    assertValidKey(key);
    if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) {
      throw ValidationError.single('size', 'must be a non-negative whole number');
    }
    signal?.throwIfAborted();
    const target = this.pathOf(key);
    const dir = path.dirname(target);
    for (let attempt = 1; ; attempt++) {
      await fsCall(`create ${dir}`, () => this.ownership.ensureDir(dir));
      const temp = path.join(dir, tempNameFor(path.basename(target), randomBytes(6).toString('hex')));
      let handle: FileHandle;
      try {
        handle = await open(temp, 'wx', 0o644);
      } catch (err) {
        if (code(err) === 'ENOENT' && attempt < PUT_ATTEMPTS) continue;
        throw mapFsError(`write ${key}`, err);
      }
      await this.writeAndPublish(key, handle, temp, target, body, size, signal);
      return;
    }
  }

  private async writeAndPublish(
    key: string,
    handle: FileHandle,
    temp: string,
    target: string,
    body: Buffer | Readable,
    size: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    let closed = false;
    try {
      if (Buffer.isBuffer(body)) {
        if (size !== undefined && body.length !== size) throw sizeMismatch(key, size, body.length);
        await handle.writeFile(body);
        await handle.sync();
      } else {
        // The stream fsyncs and closes the handle once everything is written.
        const written = await writeStream(key, handle, body, size, signal);
        if (size !== undefined && written !== size) throw sizeMismatch(key, size, written);
      }
      signal?.throwIfAborted();
      closed = true;
      await handle.close();
      await this.ownership.adoptFile(temp);
      await rename(temp, target);
      await syncDirectory(path.dirname(target));
    } catch (err) {
      if (!closed) await handle.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
      if (!Buffer.isBuffer(body)) body.destroy();
      throw mapFsError(`write ${key}`, err);
    }
  }

  async getStream(key: string, signal?: AbortSignal): Promise<Readable | null> {
    const opened = await this.openObject(key, signal);
    return opened ? streamOf(opened.handle, signal) : null;
  }

  async get(key: string, signal?: AbortSignal): Promise<Buffer | null> {
    const opened = await this.openObject(key, signal);
    return opened ? readWhole(key, opened.handle, signal) : null;
  }

  async read(key: string, inMemoryUpTo: number, signal?: AbortSignal): Promise<ObjectBody | null> {
    const opened = await this.openObject(key, signal);
    if (!opened) return null;
    // The handle keeps the inode it opened: its size cannot change under us (puts rename a new file in).
    if (opened.size > inMemoryUpTo) return { stream: streamOf(opened.handle, signal) };
    return { bytes: await readWhole(key, opened.handle, signal) };
  }

  /** Opens a regular file for reading; the handle keeps the object readers saw even if it is replaced meanwhile. */
  private async openObject(key: string, signal: AbortSignal | undefined): Promise<{ handle: FileHandle; size: number } | null> {
    assertValidKey(key);
    signal?.throwIfAborted();
    let handle: FileHandle;
    try {
      handle = await open(this.pathOf(key), 'r');
    } catch (err) {
      if (isMissing(err)) return null;
      throw mapFsError(`read ${key}`, err);
    }
    const info = await handle.stat().catch(async (err: unknown) => {
      await handle.close().catch(() => undefined);
      throw mapFsError(`read ${key}`, err);
    });
    if (!info.isFile()) {
      await handle.close().catch(() => undefined);
      return null;
    }
    return { handle, size: info.size };
  }

  async stat(key: string, signal?: AbortSignal): Promise<ObjectInfo | null> {
    assertValidKey(key);
    signal?.throwIfAborted();
    try {
      const info = await stat(this.pathOf(key));
      return info.isFile() ? { key, size: info.size, modifiedAt: info.mtime } : null;
    } catch (err) {
      if (isMissing(err)) return null;
      throw mapFsError(`stat ${key}`, err);
    }
  }

  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<ObjectInfo> {
    assertValidPrefix(prefix);
    // Stats go out a batch at a time: one by one, a day of log chunks (43,000 files) waited
    // for 43,000 thread-pool round trips. The batch starts at one file and doubles, so a
    // caller that stops at the first key (is there any? which is the oldest?) stats one.
    let batch: WalkedFile[] = [];
    let batchSize = 1;
    for await (const file of this.walk(prefix, signal)) {
      if (file.temp) continue;
      batch.push(file);
      if (batch.length < batchSize) continue;
      yield* await statFiles(batch, prefix, signal);
      batch = [];
      batchSize = Math.min(batchSize * 2, LIST_STAT_BATCH);
    }
    yield* await statFiles(batch, prefix, signal);
  }

  async delete(key: string, signal?: AbortSignal): Promise<void> {
    assertValidKey(key);
    signal?.throwIfAborted();
    const file = this.pathOf(key);
    try {
      await unlink(file);
    } catch (err) {
      if (isMissing(err) || code(err) === 'EISDIR' || code(err) === 'EPERM') return;
      throw mapFsError(`delete ${key}`, err);
    }
    await this.pruneEmptyDirs(path.dirname(file));
  }

  async deletePrefix(prefix: string, signal?: AbortSignal): Promise<number> {
    assertValidPrefix(prefix);
    let deleted = 0;
    const dirs = new Set<string>();
    // Collected first: unlinking while readdir-walking the same tree is not well defined.
    const files = [];
    for await (const file of this.walk(prefix, signal)) files.push(file);
    for (const file of files) {
      signal?.throwIfAborted();
      try {
        await unlink(file.path);
        if (!file.temp) deleted++;
      } catch (err) {
        if (!isMissing(err)) throw mapFsError(`delete ${file.key}`, err);
      }
      dirs.add(path.dirname(file.path));
    }
    // Deepest first, so a parent is tried after its children are gone.
    for (const dir of [...dirs].sort((a, b) => b.length - a.length)) await this.pruneEmptyDirs(dir);
    return deleted;
  }

  async ping(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    try {
      const info = await stat(this.root);
      if (!info.isDirectory()) throw new Error(`${this.root} is not a directory`);
      await access(this.root, fsConstants.W_OK);
    } catch (err) {
      throw new UnavailableError('objects', `${this.root} is not a writable directory: ${errorMessage(err)}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }

  private pathOf(key: string): string {
    return path.join(this.root, ...key.split('/'));
  }

  /**
   * Files under the prefix in lexicographic key order. Directory entries sort as
   * `<name>/`, which makes a depth-first walk produce exactly the order of the full keys.
   * The walk keeps its own stack rather than nesting generators, which cost every file one
   * more promise hop per directory level.
   */
  private async *walk(prefix: string, signal: AbortSignal | undefined): AsyncGenerator<WalkedFile> {
    const stack = [await this.readDirSorted(prefix.slice(0, prefix.lastIndexOf('/') + 1), prefix, signal)];
    for (let dir = stack.at(-1); dir !== undefined; dir = stack.at(-1)) {
      const entry = dir.entries[dir.next++];
      if (entry === undefined) {
        stack.pop();
        continue;
      }
      const key = dir.key + entry.sortKey;
      if (entry.isDirectory) stack.push(await this.readDirSorted(key, prefix, signal));
      else yield { key, path: path.join(dir.path, entry.name), temp: isTempName(entry.name) };
    }
  }

  /**
   * The files and directories of one directory (`dirKey` ends in `/` or is empty) that are
   * or may hold keys under the prefix, in key order; none when it is missing.
   */
  private async readDirSorted(dirKey: string, prefix: string, signal: AbortSignal | undefined): Promise<WalkedDir> {
    signal?.throwIfAborted();
    const dirPath = dirKey === '' ? this.root : this.pathOf(dirKey.slice(0, -1));
    let entries: Dirent[];
    try {
      entries = await readdir(dirPath, { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return { key: dirKey, path: dirPath, entries: [], next: 0 };
      throw mapFsError(`list ${prefix}`, err);
    }
    // Only what can lie under the prefix is sorted: a prefix within a day of log chunks
    // (the chunks of a few hours) leaves a few thousand of 43,000 names.
    const named = entries
      .filter((e) => e.isFile() || e.isDirectory())
      .map((e) => ({ name: e.name, isDirectory: e.isDirectory(), sortKey: e.isDirectory() ? `${e.name}/` : e.name }))
      .filter((e) => (dirKey + e.sortKey).startsWith(prefix) || (e.isDirectory && prefix.startsWith(dirKey + e.sortKey)))
      .sort((a, b) => compareKeys(a.sortKey, b.sortKey));
    return { key: dirKey, path: dirPath, entries: named, next: 0 };
  }

  /** Removes emptied directories up to (not including) the root; stops at the first that is not empty. */
  private async pruneEmptyDirs(dir: string): Promise<void> {
    for (let d = dir; d !== this.root && d.startsWith(this.root + path.sep); d = path.dirname(d)) {
      try {
        await rmdir(d);
      } catch {
        // Not empty, already gone, or a mount point inside a container: all mean stop here.
        return;
      }
    }
  }
}

interface WalkedFile {
  readonly key: string;
  readonly path: string;
  readonly temp: boolean;
}

/** One directory on the walk's stack: its entries in key order and the next one to visit. */
interface WalkedDir {
  readonly key: string;
  readonly path: string;
  readonly entries: readonly { readonly name: string; readonly isDirectory: boolean; readonly sortKey: string }[];
  next: number;
}

/** Most stats `list` has in flight at once (libuv runs 4 at a time by default; more only queue). */
const LIST_STAT_BATCH = 64;

/** The listed files that are still regular files, in the order given. */
async function statFiles(files: readonly WalkedFile[], prefix: string, signal: AbortSignal | undefined): Promise<ObjectInfo[]> {
  signal?.throwIfAborted();
  const infos = await Promise.all(
    files.map(async (file): Promise<ObjectInfo | undefined> => {
      try {
        const info = await stat(file.path);
        return info.isFile() ? { key: file.key, size: info.size, modifiedAt: info.mtime } : undefined;
      } catch (err) {
        // Deleted between readdir and stat: it is simply no longer there.
        if (isMissing(err)) return undefined;
        throw mapFsError(`list ${prefix}`, err);
      }
    }),
  );
  return infos.filter((info) => info !== undefined);
}

/**
 * Piped chunk by chunk in flowing mode, so a large object never sits in memory (an async
 * iterator would read() in paused mode and concatenate whatever is buffered); stops as
 * soon as `size` is exceeded.
 */
async function writeStream(
  key: string,
  handle: FileHandle,
  body: Readable,
  size: number | undefined,
  signal: AbortSignal | undefined,
): Promise<number> {
  let written = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      written += chunk.length;
      if (size !== undefined && written > size) done(sizeMismatch(key, size, written));
      else done(null, chunk);
    },
  });
  // `flush`: fsync before the stream closes the handle (with autoClose off, the stream would
  // keep a reference that makes handle.close() wait forever).
  const sink = handle.createWriteStream({ flush: true });
  await pipeline(body, counter, sink, signal ? { signal } : {});
  return written;
}

/** Reads from the handle, which closes itself at the end of the stream. */
function streamOf(handle: FileHandle, signal: AbortSignal | undefined): Readable {
  const stream = handle.createReadStream({ autoClose: true });
  return signal ? addAbortSignal(signal, stream) : stream;
}

async function readWhole(key: string, handle: FileHandle, signal: AbortSignal | undefined): Promise<Buffer> {
  try {
    return await handle.readFile(signal ? { signal } : {});
  } catch (err) {
    throw mapFsError(`read ${key}`, err);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** Makes the rename durable: the directory entry itself is flushed. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(dir, 'r');
  } catch (err) {
    // A concurrent delete already removed the object and pruned its directory.
    if (code(err) === 'ENOENT') return;
    throw err;
  }
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function sizeMismatch(key: string, expected: number, actual: number): ValidationError {
  const got = actual > expected ? `more than ${expected}` : String(actual);
  return ValidationError.single('size', `${key}: expected ${expected} bytes, the body had ${got}`);
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function isMissing(err: unknown): boolean {
  return code(err) === 'ENOENT' || code(err) === 'ENOTDIR';
}

async function fsCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw mapFsError(what, err);
  }
}

/**
 * File-system errors become typed errors. Everything else passes through unchanged: our own
 * errors, aborts, and failures of the caller's source stream (not the store's fault).
 */
function mapFsError(what: string, err: unknown): Error {
  if (err instanceof BerthError) return err;
  const c = code(err);
  if (err instanceof Error && (typeof c !== 'string' || !('syscall' in err))) return err;
  if (c === 'ENOTDIR' || c === 'EISDIR' || c === 'EEXIST') {
    return new ConflictError(`${what}: a key and a prefix collide (${errorMessage(err)})`, { cause: err });
  }
  return new UnavailableError('objects', `${what}: ${errorMessage(err)}`, { cause: err });
}
