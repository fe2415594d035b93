/**
 * `berth-daemon init` (DESIGN §6.1): code download with sha256 check, safe extraction into
 * the bot dir, state restore (safe as well), the runtime's generated entrypoint. Every
 * failure is a DaemonFailure with an INIT_EXIT code and a one-line reason.
 */
import { createHash, type Hash } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { access, chmod, chown, lchown, lstat, mkdir, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extractPackage } from '../archive/extract.js';
import { INIT_EXIT, DAEMON_ENV } from '../domain/daemon-contract.js';
import { PackageRejectedError, UnavailableError, errorMessage } from '../domain/errors.js';
import { objectKeys } from '../domain/object-keys.js';
import type { ObjectBody, ObjectStore } from '../ports/objects.js';
import type { BerthLog } from './berth-log.js';
import { THE0_STATE_SUBDIR } from './bot-env.js';
import { entrypointSource } from './entrypoints.js';
import { DaemonFailure } from './failure.js';
import type { DaemonSettings, DaemonRuntime } from './settings.js';
import { botHomeDir, botLogFile, doneFile, entrypointFile, stagingFile } from './work-paths.js';

/** A package download (at most a few hundred MB) may take this long. */
const DOWNLOAD_TIMEOUT_MS = 10 * 60_000;

/**
 * Packages and saved states up to this size are read and inflated in memory, without
 * streams: init runs in a fresh Node on every container start, where the first use of
 * streams and of a streaming gunzip costs ~30 ms for a 1 MB package. Larger ones are
 * streamed, so a big package never needs more than this much memory at once (plus what it
 * inflates to, capped at the same size).
 */
const IN_MEMORY_BYTES = 4 * 1024 * 1024;
const READ_OPTIONS = { inMemoryUpTo: IN_MEMORY_BYTES } as const;

export interface InitResult {
  readonly files: number;
  readonly stateRestored: boolean;
}

export async function runInit(s: DaemonSettings, store: ObjectStore, log: BerthLog): Promise<InitResult> {
  const runtime = s.runtime as DaemonRuntime;
  const entrypoint = s.entrypoint as string;
  await checkInterpreter(runtime === 'python3.11' ? s.python : s.node, runtime === 'python3.11' ? DAEMON_ENV.python : DAEMON_ENV.node, runtime);
  await prepareWorkDir(s);
  const limits = { maxBytes: s.maxExtractBytes, maxFiles: s.maxExtractFiles };

  const codeFile = stagingFile(s.workDir, 'code');
  const sha = await download(store, s.codeKey as string, codeFile);
  if (sha === undefined) throw new DaemonFailure(INIT_EXIT.codeMissing, `code package ${s.codeKey} is not in the object store`);
  if (sha !== s.codeSha256) {
    await rm(codeFile, { force: true });
    throw new DaemonFailure(INIT_EXIT.codeCorrupt, `code package ${s.codeKey} is corrupt: its sha256 is ${sha.slice(0, 12)}…, expected ${(s.codeSha256 ?? '').slice(0, 12)}…`);
  }
  let files: number;
  try {
    await emptyDirectory(s.botDir);
    files = (await extractPackage(codeFile, s.botDir, limits, READ_OPTIONS)).entryCount;
  } catch (err) {
    throw asFailure(err, INIT_EXIT.packageRejected, 'code package rejected');
  } finally {
    await rm(codeFile, { force: true });
  }
  const entryAbs = await resolveEntrypoint(s.botDir, entrypoint);

  const stateRestored = await restoreState(s, store, limits);
  await mkdir(path.join(s.stateDir, THE0_STATE_SUBDIR), { recursive: true, mode: 0o755 });
  if (s.runAs && process.getuid?.() === 0) {
    await chownTree(s.stateDir, s.runAs.uid, s.runAs.gid);
    await chown(botHomeDir(s.workDir), s.runAs.uid, s.runAs.gid);
  }
  const wrapper = entrypointFile(s.workDir, runtime);
  await writeFile(wrapper, entrypointSource(runtime, entryAbs), { mode: 0o644 });
  await chmod(wrapper, 0o644);
  log.say(`init: code ${(s.codeSha256 ?? '').slice(0, 12)} extracted (${files} entries), ${stateRestored ? 'state restored' : 'no saved state (first run)'}`);
  return { files, stateRestored };
}

async function checkInterpreter(file: string, variable: string, runtime: string): Promise<void> {
  try {
    await access(file, constants.X_OK);
  } catch {
    throw new DaemonFailure(INIT_EXIT.badSettings, `${runtime} is not available: ${file} is not an executable file (set ${variable})`);
  }
}

async function prepareWorkDir(s: DaemonSettings): Promise<void> {
  for (const dir of [s.workDir, path.dirname(botLogFile(s.workDir)), botHomeDir(s.workDir), s.botDir, s.stateDir]) {
    await mkdir(dir, { recursive: true, mode: 0o755 });
  }
  await rm(doneFile(s.workDir), { force: true });
}

/** Copies an object into a file, hashing it; undefined when the key does not exist. */
async function download(store: ObjectStore, key: string, file: string): Promise<string | undefined> {
  let body: ObjectBody | null;
  try {
    body = await store.read(key, IN_MEMORY_BYTES, AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS));
  } catch (err) {
    throw storeFailure(err, `cannot read ${key}`);
  }
  if (body === null) return undefined;
  const hash = createHash('sha256');
  try {
    if ('bytes' in body) {
      hash.update(body.bytes);
      await writeFile(file, body.bytes, { mode: 0o600 });
    } else {
      await pipeline(body.stream, hashing(hash), createWriteStream(file, { mode: 0o600 }));
    }
  } catch (err) {
    await rm(file, { force: true });
    throw storeFailure(err, `download of ${key} failed`);
  }
  return hash.digest('hex');
}

function hashing(hash: Hash): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
}

function storeFailure(err: unknown, what: string): DaemonFailure {
  const reason = err instanceof UnavailableError ? err.message : errorMessage(err);
  return new DaemonFailure(INIT_EXIT.objectStoreUnavailable, `object store unavailable: ${what}: ${reason}`, { cause: err });
}

function asFailure(err: unknown, code: number, what: string): DaemonFailure {
  if (err instanceof DaemonFailure) return err;
  if (err instanceof PackageRejectedError) return new DaemonFailure(code, `${what}: ${err.message}`, { cause: err });
  return new DaemonFailure(code, `${what}: ${errorMessage(err)}`, { cause: err });
}

/** The entrypoint must be a regular file inside the bot dir (symlinks resolved). */
async function resolveEntrypoint(botDir: string, entrypoint: string): Promise<string> {
  const root = await realpath(botDir);
  const missing = (): DaemonFailure =>
    new DaemonFailure(INIT_EXIT.packageRejected, `the entrypoint ${JSON.stringify(entrypoint)} is not a file in the package`);
  let real: string;
  try {
    real = await realpath(path.join(root, entrypoint));
  } catch {
    throw missing();
  }
  if (!real.startsWith(root + path.sep) || !(await lstat(real)).isFile()) throw missing();
  return path.join(root, entrypoint);
}

async function restoreState(s: DaemonSettings, store: ObjectStore, limits: { maxBytes: number; maxFiles: number }): Promise<boolean> {
  const key = objectKeys.state(s.botId);
  const file = stagingFile(s.workDir, 'state');
  try {
    if ((await download(store, key, file)) === undefined) {
      await emptyDirectory(s.stateDir);
      return false;
    }
    await emptyDirectory(s.stateDir);
    await extractPackage(file, s.stateDir, limits, READ_OPTIONS);
    return true;
  } catch (err) {
    throw asFailure(err, INIT_EXIT.stateRejected, `saved state ${key} rejected`);
  } finally {
    await rm(file, { force: true });
  }
}

async function emptyDirectory(dir: string): Promise<void> {
  for (const name of await readdir(dir)) await rm(path.join(dir, name), { recursive: true, force: true });
}

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await chown(dir, uid, gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(p, uid, gid);
    else await lchown(p, uid, gid);
  }
}
