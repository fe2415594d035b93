/**
 * The safety rules every package entry must pass, shared by inspection, extraction and
 * packing so that the three can never disagree. Pure: no I/O.
 */
import { PackageLimitError, PackageRejectedError } from '../domain/errors.js';
import type { PackageEntryType, PackageLimits } from './types.js';

const MAX_PATH_CHARS = 4096;
const MAX_SEGMENT_CHARS = 255;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/**
 * Normalises an entry name from an archive ("./a//b/" → "a/b"). Returns "" for the root
 * directory entry ("./"), which carries nothing. Rejects absolute paths, ".." segments,
 * backslashes and control characters, naming the entry.
 */
export function normalizeEntryPath(raw: string): string {
  if (raw.length > MAX_PATH_CHARS) throw new PackageRejectedError(`path is longer than ${MAX_PATH_CHARS} characters`, raw.slice(0, 80) + '…');
  if (CONTROL_CHARS.test(raw)) throw new PackageRejectedError('path contains control characters', raw);
  if (raw.includes('\\')) throw new PackageRejectedError('path contains a backslash', raw);
  if (raw.startsWith('/') || /^[a-zA-Z]:/.test(raw)) throw new PackageRejectedError('absolute paths are not allowed', raw);
  const segments: string[] = [];
  for (const seg of raw.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') throw new PackageRejectedError('".." in a path would write outside the package', raw);
    if (seg.length > MAX_SEGMENT_CHARS) throw new PackageRejectedError(`a path segment is longer than ${MAX_SEGMENT_CHARS} characters`, raw);
    segments.push(seg);
  }
  return segments.join('/');
}

/** Checks a symlink's stored target on its own: relative, and lexically inside the package. */
export function checkSymlinkTarget(linkPath: string, target: string): void {
  if (target === '') throw new PackageRejectedError('symlink has an empty target', linkPath);
  if (target.length > MAX_PATH_CHARS || CONTROL_CHARS.test(target)) throw new PackageRejectedError('symlink target is not a usable path', linkPath);
  if (target.startsWith('/') || /^[a-zA-Z]:/.test(target) || target.includes('\\')) {
    throw new PackageRejectedError(`symlink points outside the package (to ${JSON.stringify(target)})`, linkPath);
  }
  if (resolveInside(linkPath, target, () => false) === undefined) {
    throw new PackageRejectedError(`symlink points outside the package (to ${JSON.stringify(target)})`, linkPath);
  }
}

/**
 * Walks `target` from the directory holding `linkPath`, lexically. Returns the resolved
 * relative path ("" = package root), or undefined when it climbs above the root. Throws when
 * a component that is followed by more components is itself a symlink: then the physical
 * resolution could differ from the lexical one ("s -> .", "t -> s/.." escapes).
 */
function resolveInside(linkPath: string, target: string, isSymlink: (p: string) => boolean): string | undefined {
  const stack = linkPath.split('/').slice(0, -1);
  const parts = target.split('/').filter((p) => p !== '' && p !== '.');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === '..') {
      if (stack.length === 0) return undefined;
      stack.pop();
    } else {
      stack.push(part);
    }
    const isLast = i === parts.length - 1;
    if (!isLast && stack.length > 0 && isSymlink(stack.join('/'))) {
      throw new PackageRejectedError(`symlink target goes through another symlink (${JSON.stringify(stack.join('/'))})`, linkPath);
    }
  }
  return stack.join('/');
}

type Known = PackageEntryType | 'implicit-dir';

/**
 * Tracks the entries seen so far: counts, duplicates and conflicts, paths that run through a
 * symlink entry (in either order), and finally the symlink targets as a set.
 */
export class EntryLedger {
  private readonly known = new Map<string, Known>();
  private readonly symlinks: { path: string; target: string }[] = [];
  private count = 0;

  constructor(private readonly limits: PackageLimits) {}

  get entryCount(): number {
    return this.count;
  }

  /** Registers one entry; `path` must come from normalizeEntryPath and be non-empty. */
  add(path: string, type: PackageEntryType, target?: string): void {
    this.count++;
    if (this.count > this.limits.maxFiles) {
      throw new PackageLimitError('entries', `the package has more than ${this.limits.maxFiles} entries`, path);
    }
    const segments = path.split('/');
    for (let i = 1; i < segments.length; i++) {
      const prefix = segments.slice(0, i).join('/');
      const seen = this.known.get(prefix);
      if (seen === 'symlink') throw new PackageRejectedError(`entry would be written through the symlink ${JSON.stringify(prefix)}`, path);
      if (seen === 'file') throw new PackageRejectedError(`entry needs ${JSON.stringify(prefix)} to be a directory, but it is a file`, path);
      if (seen === undefined) this.known.set(prefix, 'implicit-dir');
    }
    const existing = this.known.get(path);
    if (existing !== undefined) {
      const bothDirs = type === 'dir' && (existing === 'dir' || existing === 'implicit-dir');
      if (!bothDirs) {
        const what = existing === 'implicit-dir' ? 'a directory' : `a ${existing}`;
        throw new PackageRejectedError(`duplicate entry: the path is already ${what} in the package`, path);
      }
    }
    this.known.set(path, type);
    if (type === 'symlink') {
      checkSymlinkTarget(path, target ?? '');
      this.symlinks.push({ path, target: target ?? '' });
    }
  }

  /** Checks the symlinks against each other; call once every entry was added. */
  finish(): void {
    const isSymlink = (p: string): boolean => this.known.get(p) === 'symlink';
    for (const { path, target } of this.symlinks) {
      if (resolveInside(path, target, isSymlink) === undefined) {
        throw new PackageRejectedError(`symlink points outside the package (to ${JSON.stringify(target)})`, path);
      }
    }
  }
}

/** Files get 0755 when any execute bit was set, else 0644: never world-writable, never setuid. */
export function safeFileMode(executable: boolean): number {
  return executable ? 0o755 : 0o644;
}

export const SAFE_DIR_MODE = 0o755;

/** Human-readable byte counts for error messages. */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 * 1024) return `${(n / (1024 * 1024 * 1024)).toFixed(1)} GiB`;
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(n % (1024 * 1024) === 0 ? 0 : 1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(n % 1024 === 0 ? 0 : 1)} KiB`;
  return `${n} bytes`;
}
