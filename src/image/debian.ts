/**
 * Python 3.11 from Debian's own packages: `apt-get download` (no root needed, nothing is
 * installed on the host) into a cache directory, then `dpkg-deb -x` into a scratch tree.
 */
import { access, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { errorMessage } from '../domain/errors.js';
import { run, tryRun } from './exec.js';

export const PYTHON_PACKAGES = ['python3.11-minimal', 'libpython3.11-minimal', 'libpython3.11-stdlib'] as const;

/**
 * Libraries of the Python packages worth shipping (matched by name prefix so that a
 * renamed package such as `libssl3t64` still matches): ssl/hashlib, ctypes, sqlite3,
 * decimal, pyexpat, zlib, bz2, lzma, uuid. curses, readline, dbm, nis and crypt are left
 * out on purpose — a bot has no terminal — and their extension modules are dropped.
 */
const WANTED_LIBRARY_PREFIXES = ['libssl', 'libffi', 'libsqlite3', 'libmpdec', 'libexpat', 'zlib1g', 'libbz2', 'liblzma', 'libuuid'];

export interface DebPackage {
  readonly name: string;
  readonly version: string;
  /** File name in the cache directory (as apt-get download names it). */
  readonly fileName: string;
}

/** apt-get download's own naming: the epoch's colon is URL-encoded. */
export function debFileName(name: string, version: string, arch: string): string {
  return `${name}_${version.replaceAll(':', '%3a')}_${arch}.deb`;
}

interface Stanza {
  readonly [field: string]: string;
}

export function parseStanzas(text: string): Stanza[] {
  const stanzas: Stanza[] = [];
  let current: Record<string, string> = {};
  let lastKey = '';
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (Object.keys(current).length) stanzas.push(current);
      current = {};
      continue;
    }
    if (/^\s/.test(line) && lastKey) {
      current[lastKey] += `\n${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    lastKey = line.slice(0, colon);
    current[lastKey] = line.slice(colon + 1).trim();
  }
  if (Object.keys(current).length) stanzas.push(current);
  return stanzas;
}

/** Package names of a Depends field: first alternative, version constraints dropped. */
export function dependencyNames(depends: string): string[] {
  return depends
    .split(',')
    .map((clause) => (clause.split('|')[0] ?? '').trim().split(/[\s(:]/)[0] ?? '')
    .filter(Boolean);
}

export function wantedLibraries(depends: readonly string[]): string[] {
  return depends.filter((name) => WANTED_LIBRARY_PREFIXES.some((prefix) => name.startsWith(prefix)));
}

function toPackage(stanza: Stanza): DebPackage | undefined {
  const name = stanza.Package;
  const version = stanza.Version;
  const arch = stanza.Architecture;
  if (!name || !version || !arch) return undefined;
  return { name, version, fileName: debFileName(name, version, arch) };
}

async function showPackages(names: readonly string[], signal?: AbortSignal): Promise<DebPackage[] | undefined> {
  const out = await tryRun('apt-cache', ['show', '--no-all-versions', ...names], { signal });
  if (!out) return undefined;
  const stanzas = parseStanzas(out);
  const packages = stanzas.map(toPackage).filter((p): p is DebPackage => p !== undefined);
  return packages.length === names.length ? packages : undefined;
}

const APT_LISTS = '/var/lib/apt/lists';

/**
 * The exact .deb files a Debian-sourced Python would use, from the local package lists
 * (no network). Undefined when apt is absent or does not know python3.11. apt-cache takes
 * about a second per call on a busy machine and `berth serve` asks at every start, so the
 * answer is kept on disk until the package lists change (apt-get update).
 */
export async function resolveDebianPython(signal?: AbortSignal, cacheDir = defaultImageCacheDir()): Promise<DebPackage[] | undefined> {
  const listsMtime = await stat(APT_LISTS).then((st) => st.mtimeMs, () => undefined);
  const cacheFile = join(cacheDir, 'debian-python.json');
  if (listsMtime !== undefined) {
    const cached = await readFile(cacheFile, 'utf8').then((text) => JSON.parse(text) as { listsMtime: number; packages: DebPackage[] }, () => undefined);
    if (cached?.listsMtime === listsMtime && Array.isArray(cached.packages)) return cached.packages;
  }
  const packages = await queryDebianPython(signal);
  if (packages && listsMtime !== undefined) {
    await mkdir(cacheDir, { recursive: true });
    const partial = `${cacheFile}.${process.pid}.tmp`;
    await writeFile(partial, JSON.stringify({ listsMtime, packages }));
    await rename(partial, cacheFile);
  }
  return packages;
}

async function queryDebianPython(signal?: AbortSignal): Promise<DebPackage[] | undefined> {
  const out = await tryRun('apt-cache', ['show', '--no-all-versions', ...PYTHON_PACKAGES], { signal });
  if (!out) return undefined;
  const stanzas = parseStanzas(out);
  const python = stanzas.map(toPackage).filter((p): p is DebPackage => p !== undefined);
  if (python.length !== PYTHON_PACKAGES.length) return undefined;
  const deps = new Set<string>();
  for (const stanza of stanzas) {
    for (const name of dependencyNames(`${stanza.Depends ?? ''},${stanza['Pre-Depends'] ?? ''}`)) deps.add(name);
  }
  const libraries = wantedLibraries([...deps].filter((d) => !(PYTHON_PACKAGES as readonly string[]).includes(d)));
  const libraryPackages = libraries.length ? await showPackages(libraries, signal) : [];
  if (!libraryPackages) return undefined;
  return [...python, ...libraryPackages];
}

/** Downloaded .debs and the stripped Node binary live here between builds. */
export function defaultImageCacheDir(): string {
  return process.env.BERTH_IMAGE_CACHE_DIR ?? join(tmpdir(), 'berth-image-cache');
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/**
 * Downloads the missing .debs into the cache. apt-get writes into its working directory,
 * so it runs in a private scratch directory and the files are renamed into the cache:
 * a concurrent build never sees a half-written .deb.
 */
export async function downloadDebs(
  packages: readonly DebPackage[],
  cacheDir: string,
  signal?: AbortSignal,
): Promise<string[]> {
  await mkdir(cacheDir, { recursive: true });
  const missing: DebPackage[] = [];
  for (const pkg of packages) if (!(await exists(join(cacheDir, pkg.fileName)))) missing.push(pkg);
  if (missing.length) {
    const scratch = await mkdtemp(join(cacheDir, '.download-'));
    try {
      try {
        await run('apt-get', ['download', ...missing.map((p) => `${p.name}=${p.version}`)], { cwd: scratch, signal });
      } catch (err) {
        if (signal?.aborted) throw err;
        throw new Error(
          `downloading Python 3.11 from Debian failed (stale package lists? run apt-get update; or set BERTH_IMAGE_PYTHON=local or a path to a python3.11): ${errorMessage(err)}`,
          { cause: err },
        );
      }
      for (const file of await readdir(scratch)) {
        if (file.endsWith('.deb')) await rename(join(scratch, file), join(cacheDir, file));
      }
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
  const paths = packages.map((p) => join(cacheDir, p.fileName));
  for (const path of paths) {
    if (!(await exists(path))) throw new Error(`apt-get download did not produce ${basename(path)}`);
  }
  return paths;
}

export async function extractDebs(debs: readonly string[], into: string, signal?: AbortSignal): Promise<void> {
  for (const deb of debs) await run('dpkg-deb', ['-x', deb, into], { signal });
}
