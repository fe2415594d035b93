/**
 * Python 3.11 for the image, from one of two sources:
 *
 * - Debian packages (preferred): CI is a clean Debian 12 machine with apt but no
 *   python3.11, and our own machines have apt too. The .debs are the same bytes on every
 *   machine (a reproducible image and tag), the stdlib is already split from
 *   test/idlelib/tkinter, the download is ~5 MB once and then cached.
 * - A local python3.11 installation (fallback, or forced with BERTH_IMAGE_PYTHON=local or
 *   a path): for machines without apt or without network. Its stdlib is copied without
 *   tests, GUI, build config and site-packages.
 *
 * BERTH_IMAGE_PYTHON=debian|local|<path to python3.11> overrides the choice.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { downloadDebs, extractDebs, resolveDebianPython, type DebPackage } from './debian.js';
import { isElf } from './elf.js';
import { run, tryRun } from './exec.js';
import { createLibraryCopier } from './libraries.js';
import type { RootFs } from './rootfs.js';
import { addTree } from './tree.js';

export type PythonSource =
  | { readonly kind: 'debian'; readonly version: string; readonly packages: readonly DebPackage[] }
  | { readonly kind: 'local'; readonly version: string; readonly executable: string; readonly stdlib: string };

/** Goes into the image tag: a different Python gives a different image. */
export function describePython(source: PythonSource | undefined): string {
  if (!source) return 'python:none';
  if (source.kind === 'debian') return `debian:${source.packages.map((p) => `${p.name}=${p.version}`).join(',')}`;
  return `local:${source.version}:${source.executable}`;
}

const PRUNED_TOP_LEVEL = new Set(['test', 'idlelib', 'tkinter', 'turtledemo', 'ensurepip', 'lib2to3', 'pydoc_data', 'turtle.py']);

/**
 * Extension modules left out whatever the host has: a bot has no terminal (readline,
 * curses) and no use for NIS or Berkeley DB; leaving them out also keeps their libraries
 * (ncurses, krb5 via libnsl, libdb) out of the image.
 */
const PRUNED_EXTENSIONS = new Set(['readline', '_curses', '_curses_panel', '_dbm', '_gdbm', 'nis', '_tkinter']);

/** Stdlib paths (relative to the stdlib dir) a bot never needs. */
export function prunedFromStdlib(rel: string, isDirectory: boolean): boolean {
  const parts = rel.split('/');
  const top = parts[0] ?? '';
  if (PRUNED_TOP_LEVEL.has(top)) return true;
  if (top === 'lib-dynload' && PRUNED_EXTENSIONS.has((parts[1] ?? '').split('.')[0] ?? '')) return true;
  // Byte code is kept for the default optimisation level only (what `python3.11` loads).
  if (parts.includes('__pycache__') && !isDirectory && !/\.cpython-311\.pyc$/.test(parts.at(-1) ?? '')) return true;
  if (top.startsWith('config-3')) return true; // static libpython and Makefiles for building C extensions
  if ((top === 'site-packages' || top === 'dist-packages') && parts.length > 1) return true;
  // Test suites nested in packages (ctypes/test, unittest/test, distutils/tests, …).
  if (isDirectory && ['test', 'tests', 'idle_test'].includes(parts.at(-1) ?? '')) return true;
  return false;
}

const LOCAL_PROBE = [
  'import json, os, sys, sysconfig',
  'print(json.dumps({"executable": os.path.realpath(sys.executable), "version": "%d.%d.%d" % sys.version_info[:3],',
  ' "stdlib": sysconfig.get_path("stdlib")}))',
].join('\n');

async function probeLocal(candidate: string, signal?: AbortSignal): Promise<PythonSource | undefined> {
  const out = await tryRun(candidate, ['-c', LOCAL_PROBE], { signal });
  if (!out) return undefined;
  try {
    const info = JSON.parse(out) as { executable: string; version: string; stdlib: string };
    if (!info.version.startsWith('3.11.')) return undefined;
    return { kind: 'local', version: info.version, executable: info.executable, stdlib: info.stdlib };
  } catch {
    return undefined;
  }
}

async function localCandidates(): Promise<string[]> {
  const candidates = ['python3.11', '/usr/local/bin/python3.11', '/usr/bin/python3.11'];
  // pyenv's shim only answers for the selected version; look at its installs directly.
  const pyenv = join(process.env.PYENV_ROOT ?? join(homedir(), '.pyenv'), 'versions');
  const versions = await readdir(pyenv).catch(() => [] as string[]);
  for (const v of versions.filter((name) => name.startsWith('3.11')).sort().reverse()) {
    candidates.push(join(pyenv, v, 'bin/python3.11'));
  }
  return candidates;
}

async function findLocal(signal?: AbortSignal): Promise<PythonSource | undefined> {
  for (const candidate of await localCandidates()) {
    const found = await probeLocal(candidate, signal);
    if (found) return found;
  }
  return undefined;
}

async function findDebian(signal?: AbortSignal): Promise<PythonSource | undefined> {
  const packages = await resolveDebianPython(signal);
  const python = packages?.find((p) => p.name === 'python3.11-minimal');
  return packages && python ? { kind: 'debian', version: python.version, packages } : undefined;
}

/** Which Python the offline builder would pack on this machine; undefined if none. */
export async function probePython(signal?: AbortSignal): Promise<PythonSource | undefined> {
  const forced = process.env.BERTH_IMAGE_PYTHON?.trim();
  if (forced === 'debian') return findDebian(signal);
  if (forced === 'local') return findLocal(signal);
  if (forced) return probeLocal(forced, signal);
  return (await findDebian(signal)) ?? (await findLocal(signal));
}

export interface AddPythonOptions {
  readonly cacheDir: string;
  readonly signal?: AbortSignal;
  readonly log: (line: string) => void;
}

/** Extension modules whose libraries are missing are dropped rather than shipped broken. */
async function addDynloadLibraries(
  fs: RootFs,
  modules: readonly { host: string; image: string }[],
  copier: ReturnType<typeof createLibraryCopier>,
  log: (line: string) => void,
): Promise<void> {
  const dropped: string[] = [];
  for (const mod of modules) {
    const missing = await copier.addFor(mod.host);
    if (missing.length) {
      fs.remove(mod.image);
      dropped.push(`${basename(mod.host).split('.')[0]} (${missing.join(', ')})`);
    }
  }
  if (dropped.length) log(`python: left out extension modules without their libraries: ${dropped.join('; ')}`);
}

async function addDebianPython(fs: RootFs, source: Extract<PythonSource, { kind: 'debian' }>, options: AddPythonOptions): Promise<() => Promise<void>> {
  const debs = await downloadDebs(source.packages, join(options.cacheDir, 'debs'), options.signal);
  const staged = await mkdtemp(join(tmpdir(), 'berth-python-'));
  const cleanup = () => rm(staged, { recursive: true, force: true });
  try {
    await extractDebs(debs, staged, options.signal);
    const stdlib = join(staged, 'usr/lib/python3.11');
    await compileStdlib(join(staged, 'usr/bin/python3.11'), stdlib, '/usr/lib/python3.11', libraryPathOf(staged), options.signal);
    const files = await addTree(fs, stdlib, 'usr/lib/python3.11', { skip: prunedFromStdlib, keepSymlinks: true });
    await addTree(fs, join(staged, 'etc/python3.11'), 'etc/python3.11', { keepSymlinks: true });
    const binary = join(staged, 'usr/bin/python3.11');
    fs.file('usr/bin/python3.11', binary, 0o755);
    fs.symlink('usr/local/bin/python3.11', '/usr/bin/python3.11');
    const copier = createLibraryCopier(fs, { staged: { hostDir: staged }, libraryPath: libraryPathOf(staged), signal: options.signal });
    const missing = await copier.addFor(binary);
    if (missing.length) throw new Error(`python3.11 needs libraries that are missing: ${missing.join(', ')}`);
    const modules = files
      .filter((f) => f.endsWith('.so'))
      .map((host) => ({ host, image: `usr/lib/python3.11/${host.slice(stdlib.length + 1)}` }));
    await addDynloadLibraries(fs, modules, copier, options.log);
    return cleanup;
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Library directories of an extracted .deb tree, multiarch ones included. */
function libraryPathOf(staged: string): string[] {
  const triplet = `${process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch}-linux-gnu`;
  return ['usr/lib', 'lib'].flatMap((d) => [join(staged, d, triplet), join(staged, d)]);
}

/**
 * Without byte code every bot start recompiles what it imports (`import json, asyncio`
 * takes ~0.7 s instead of ~0.05 s). The staged interpreter compiles its own stdlib on the
 * host; `unchecked-hash` byte code is never revalidated against the source, which is right
 * for an immutable image and independent of file times. `-d` makes tracebacks show the
 * paths inside the image.
 */
async function compileStdlib(python: string, stdlib: string, inImage: string, libraryPath: readonly string[], signal?: AbortSignal): Promise<void> {
  const pruned = `/(${[...PRUNED_TOP_LEVEL].join('|').replaceAll('.', '\\.')})(/|$)`;
  const env: NodeJS.ProcessEnv = { ...process.env, LD_LIBRARY_PATH: libraryPath.join(':') };
  for (const name of Object.keys(env)) if (name.startsWith('PYTHON')) delete env[name];
  await run(python, ['-m', 'compileall', '-q', '-j0', '--invalidation-mode', 'unchecked-hash', '-d', inImage, '-x', pruned, stdlib], { env, signal });
}

async function addLocalPython(fs: RootFs, source: Extract<PythonSource, { kind: 'local' }>, options: AddPythonOptions): Promise<void> {
  const files = await addTree(fs, source.stdlib, 'usr/local/lib/python3.11', { skip: prunedFromStdlib });
  fs.file('usr/local/bin/python3.11', source.executable, 0o755);
  const copier = createLibraryCopier(fs, { signal: options.signal });
  const missing = await copier.addFor(source.executable);
  if (missing.length) throw new Error(`python3.11 needs libraries that are missing: ${missing.join(', ')}`);
  const modules: { host: string; image: string }[] = [];
  for (const host of files) {
    if (host.endsWith('.so') && (await isElf(host))) {
      modules.push({ host, image: `usr/local/lib/python3.11/${host.slice(source.stdlib.length + 1)}` });
    }
  }
  await addDynloadLibraries(fs, modules, copier, options.log);
}

/**
 * Adds Python at CONTAINER_PATHS.python (/usr/local/bin/python3.11) with `python3` and
 * `python` next to it. Returns a cleanup for scratch files that must outlive the tar.
 */
export async function addPython(fs: RootFs, source: PythonSource, options: AddPythonOptions): Promise<() => Promise<void>> {
  const cleanup = source.kind === 'debian' ? await addDebianPython(fs, source, options) : (await addLocalPython(fs, source, options), async () => {});
  fs.symlink('usr/local/bin/python3', 'python3.11');
  fs.symlink('usr/local/bin/python', 'python3.11');
  return cleanup;
}
