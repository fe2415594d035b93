/**
 * What start-up checks before it opens or starts anything: the directories Berth writes to
 * (the data dir and what is derived from it, an embedded store's and object store's
 * directories) exist — created if need be — and are writable directories, and the API's
 * listen address is free (and held until the API takes it). Every problem becomes a
 * ConfigError naming the setting, where it came from, the path or address, the reason and
 * what to change; nothing is half started when one is found.
 */
import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { mkdir, open, stat, unlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { objectStoreTarget } from '../adapters/objects/target.js';
import { sqliteFile } from '../adapters/store/open.js';
import { ConfigError, type ConfigIssue } from '../config/errors.js';
import { formatListen } from '../config/listen.js';
import type { ServerConfig } from '../config/load.js';
import { SETTINGS, type SettingKey } from '../config/settings.js';
import { ValidationError, errorMessage } from '../domain/errors.js';

export type DirectorySetting = Extract<SettingKey, 'dataDir' | 'store' | 'objects'>;

/** A directory Berth needs, and the setting to blame when it is unusable. */
export interface NeededDirectory {
  readonly dir: string;
  readonly setting: DirectorySetting;
  /** How the directory relates to the setting, e.g. `the data directory`. */
  readonly role: string;
}

/** The directories start-up needs for `role`; the process runtime's comes later (see start.ts). */
export function neededDirectories(config: ServerConfig, withApi: boolean): NeededDirectory[] {
  const dirs: NeededDirectory[] = [{ dir: config.dataDir, setting: 'dataDir', role: 'the data directory' }];
  // A store or object store left at its default lives in the data dir: blame the data dir.
  const blame = (key: 'store' | 'objects'): DirectorySetting => (config.sources[key].kind === 'default' ? 'dataDir' : key);
  const file = embedded(() => sqliteFile(config.store));
  if (file !== undefined && file !== ':memory:') {
    dirs.push({ dir: path.dirname(path.resolve(file)), setting: blame('store'), role: 'the directory of the SQLite store' });
  }
  const objects = embedded(() => objectStoreTarget(config.objects));
  if (objects?.kind === 'file') dirs.push({ dir: objects.root, setting: blame('objects'), role: 'the object store directory' });
  if (withApi) dirs.push({ dir: path.join(config.dataDir, 'uploads'), setting: 'dataDir', role: 'the upload directory (in the data directory)' });
  return dirs;
}

/** The process runtime's directory (`<data-dir>/processes`). */
export function processRuntimeDirectory(config: ServerConfig): NeededDirectory {
  return { dir: path.join(config.dataDir, 'processes'), setting: 'dataDir', role: 'the process runtime directory (in the data directory)' };
}

/** Creates what is missing and checks each is a writable directory; one ConfigError for every problem. */
export async function prepareDirectories(config: ServerConfig, dirs: readonly NeededDirectory[]): Promise<void> {
  const issues = await directoryIssues(config, dirs);
  if (issues.length > 0) throw new ConfigError(issues);
}

export async function directoryIssues(config: ServerConfig, dirs: readonly NeededDirectory[]): Promise<ConfigIssue[]> {
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  const failed: string[] = [];
  for (const need of dirs) {
    const dir = path.resolve(need.dir);
    // Once the data dir is unusable, its subdirectories are too: say it once.
    if (seen.has(dir) || failed.some((f) => dir.startsWith(f + path.sep))) continue;
    seen.add(dir);
    const problem = await directoryProblem(dir);
    if (problem === undefined) continue;
    failed.push(dir);
    const info = SETTINGS[need.setting];
    issues.push({
      setting: info.fileKey,
      source: config.sources[need.setting],
      value: JSON.stringify(need.setting === 'dataDir' ? config.dataDir : config[need.setting]),
      problem:
        `cannot be used: ${need.role} ${dir} ${problem}. ` +
        `Set ${info.flag} (or ${info.env}) to a directory this user can create and write` +
        (need.setting === 'dataDir' ? '' : `, or leave it out to use the data directory`),
      accepted: info.accepted,
    });
  }
  return issues;
}

/**
 * Why `dir` cannot be used, or undefined once it exists as a directory this process can
 * write to (missing directories are created on the way).
 *
 * This is `mkdir -p` done by hand, not `mkdir(dir, { recursive: true })`: Node 20's recursive
 * mkdir loops forever when mkdir(2) answers ENOENT although the parent exists — which is
 * what /proc does (`mkdir("/proc/x") = ENOENT`, `mkdir("/proc") = EEXIST`, again and again,
 * on a libuv thread, so not even a signal ends the wait). A list of refused prefixes
 * (/proc, /sys, /dev) would miss other file systems that answer the same way (FUSE mounts,
 * procfs-like mounts elsewhere); walking up with stat(2) to the nearest existing ancestor,
 * checking that it is a directory, and creating the rest one mkdir(2) each cannot loop:
 * every step is one system call on a shorter or longer path, and any error ends the walk.
 */
export async function directoryProblem(dir: string): Promise<string | undefined> {
  const missing: string[] = [];
  for (let at = path.resolve(dir); ; ) {
    let info: Stats;
    try {
      info = await stat(at);
    } catch (err) {
      const code = errnoCode(err);
      const parent = path.dirname(at);
      // ENOTDIR: some ancestor is a file; walking up finds and names it.
      if ((code === 'ENOENT' || code === 'ENOTDIR') && parent !== at) {
        missing.unshift(at);
        at = parent;
        continue;
      }
      return `cannot be examined: ${at}: ${describe(err)}`;
    }
    if (!info.isDirectory()) {
      return at === path.resolve(dir) ? `is ${kindOf(info)}, not a directory` : `cannot be created: ${at} is ${kindOf(info)}, not a directory`;
    }
    break;
  }
  for (const d of missing) {
    try {
      await mkdir(d);
    } catch (err) {
      // Created by someone else meanwhile: fine if it is a directory.
      if (errnoCode(err) === 'EEXIST' && (await isDirectory(d))) continue;
      return `cannot be created: mkdir ${d}: ${describe(err)}`;
    }
  }
  // Writing a file is the only reliable test: access(2) misjudges read-only mounts for root,
  // NFS with root squashing and ACLs.
  const probe = path.join(dir, `.berth-write-check-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const handle = await open(probe, 'wx', 0o600);
    await handle.close();
    await unlink(probe);
  } catch (err) {
    return `is not writable: ${describe(err)}`;
  }
  return undefined;
}

/** The API's address, bound (not accepting) from start-up until the API listens on it. */
export interface ListenReservation {
  /** Frees the address; idempotent. */
  release(): Promise<void>;
}

const NOTHING_HELD: ListenReservation = { release: async () => undefined };

/**
 * Binds the `listen` address before anything starts, so that an address someone else holds
 * is reported before adapters open or BotService touches a container, and holds it until
 * the API takes it over (`release()` right before `app.listen`). Port 0 (any free port) needs
 * no check.
 */
export async function reserveListenAddress(config: ServerConfig): Promise<ListenReservation> {
  if (config.listen.port === 0) return NOTHING_HELD;
  // While held, a client that connects (a CLI, a health probe) is cut off at once — as if
  // nothing listened yet — instead of waiting in the backlog until the API starts.
  const server = createServer((socket) => socket.destroy());
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: config.listen.host, port: config.listen.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    throw listenError(config, err);
  }
  let released: Promise<void> | undefined;
  return {
    release: () => (released ??= new Promise<void>((resolve) => server.close(() => resolve()))),
  };
}

/** A failed listen as a ConfigError on the `listen` setting; other errors unchanged. */
export function listenError(config: ServerConfig, err: unknown): unknown {
  const problem = listenProblem(err);
  if (problem === undefined) return err;
  const info = SETTINGS.listen;
  return new ConfigError(
    [
      {
        setting: info.fileKey,
        source: config.sources.listen,
        value: JSON.stringify(formatListen(config.listen)),
        problem: `${problem}. ${problem.startsWith('is already in use') ? 'Stop it, or set' : 'Set'} ${info.flag} (or ${info.env}) to another address (port 0 picks a free one)`,
        accepted: info.accepted,
      },
    ],
    { cause: err },
  );
}

function listenProblem(err: unknown): string | undefined {
  switch (errnoCode(err)) {
    case 'EADDRINUSE':
      return 'is already in use: something else listens there (maybe another `berth serve` or `npm run demo`)';
    case 'EADDRNOTAVAIL':
      return 'is not an address of this machine';
    case 'EACCES':
    case 'EPERM':
      return 'may not be listened on by this user (ports below 1024 usually need root)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return 'names a host that cannot be resolved';
    case undefined:
      return undefined;
    default:
      return `cannot be listened on (${errorMessage(err)})`;
  }
}

function embedded<T>(parse: () => T): T | undefined {
  try {
    return parse();
  } catch (err) {
    // A malformed URL is reported when the adapter opens it, with the same ConfigError shape.
    if (err instanceof ValidationError) return undefined;
    throw err;
  }
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function kindOf(info: Stats): string {
  if (info.isFile()) return 'a file';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  if (info.isFIFO()) return 'a named pipe';
  if (info.isSocket()) return 'a socket';
  return 'not a directory';
}

const REASONS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENOENT: 'the file system there does not allow creating it',
  EEXIST: 'something that is not a directory is in the way (a dangling symbolic link?)',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'the path is too long',
};

function describe(err: unknown): string {
  const code = errnoCode(err);
  const reason = code === undefined ? undefined : REASONS[code];
  return reason ? `${reason} (${code})` : errorMessage(err);
}

/**
 * Every check start-up makes before it opens anything: the listen address first (when the
 * API runs; a taken address is reported before anything is created on disk), then the
 * directories (one ConfigError for every unusable one). On success the address is held
 * until the API takes it.
 */
export async function preflight(config: ServerConfig, withApi: boolean): Promise<ListenReservation> {
  const reservation = withApi ? await reserveListenAddress(config) : NOTHING_HELD;
  try {
    await prepareDirectories(config, neededDirectories(config, withApi));
  } catch (err) {
    await reservation.release();
    throw err;
  }
  return reservation;
}
