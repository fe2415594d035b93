/**
 * The offline builder: the image's root filesystem assembled from this machine's own
 * files (Node, sh, a few coreutils, their shared libraries) plus Python (python.ts), then
 * `docker import`ed as a single layer. Needs no registry.
 */
import { access } from 'node:fs/promises';
import path, { join } from 'node:path';
import type { Readable } from 'node:stream';
import { CONTAINER_PATHS } from '../domain/daemon-contract.js';
import { BOT_USER, DAEMON_FILES } from './constants.js';
import { createLibraryCopier } from './libraries.js';
import { nodeBinaryForImage } from './node.js';
import { addPython, type PythonSource } from './python.js';
import { RootFs } from './rootfs.js';
import type { DaemonFiles } from './tag.js';

/**
 * Host tools copied next to sh: enough for bootstrap.sh, `docker exec` debugging and shell
 * one-liners. Each is ~100 KB; a missing one is skipped.
 */
export const HOST_TOOLS = [
  'sleep', 'cat', 'ls', 'mkdir', 'rm', 'mv', 'cp', 'ln', 'chmod', 'chown', 'id', 'env', 'head',
  'tail', 'touch', 'date', 'wc', 'tr', 'basename', 'dirname', 'rmdir', 'sed', 'grep', 'kill',
] as const;

const SEARCH_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'];

async function findHostTool(name: string): Promise<string | undefined> {
  for (const dir of SEARCH_DIRS) {
    const path = `${dir}/${name}`;
    if (await access(path).then(() => true, () => false)) return path;
  }
  return undefined;
}

function addAccounts(fs: RootFs): void {
  const { name, uid, gid } = BOT_USER;
  fs.content('etc/passwd', [
    'root:x:0:0:root:/root:/bin/sh',
    `${name}:x:${uid}:${gid}:berth bot:${CONTAINER_PATHS.botDir}:/bin/sh`,
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
    '',
  ].join('\n'));
  fs.content('etc/group', ['root:x:0:', `${name}:x:${gid}:`, 'nogroup:x:65534:', ''].join('\n'));
  fs.content('etc/nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\n');
}

function addDirectories(fs: RootFs): void {
  const bot = { uid: BOT_USER.uid, gid: BOT_USER.gid };
  fs.dir(CONTAINER_PATHS.botDir, 0o755, bot);
  fs.dir(CONTAINER_PATHS.stateDir, 0o755, bot);
  fs.dir(CONTAINER_PATHS.workDir, 0o755);
  fs.dir(`${CONTAINER_PATHS.workDir}/logs`, 0o755);
  fs.dir('opt/berth', 0o755);
  fs.dir('tmp', 0o1777);
  fs.dir('var/tmp', 0o1777);
  fs.dir('root', 0o700);
  for (const dir of ['dev', 'proc', 'sys', 'run', 'etc', 'usr/local/bin']) fs.dir(dir);
}

async function addShell(fs: RootFs, copier: ReturnType<typeof createLibraryCopier>): Promise<void> {
  const dash = await findHostTool('dash');
  const busybox = dash ? undefined : await findHostTool('busybox');
  const shell = dash ?? busybox;
  if (!shell) throw new Error('no POSIX shell to copy: install dash or busybox on this machine');
  const name = dash ? 'dash' : 'busybox';
  fs.file(`usr/bin/${name}`, shell, 0o755);
  fs.symlink('usr/bin/sh', name);
  const missing = await copier.addFor(shell);
  if (missing.length) throw new Error(`${shell} needs libraries that are missing: ${missing.join(', ')}`);
  for (const tool of HOST_TOOLS) {
    const path = await findHostTool(tool);
    if (path && !(await copier.addFor(path)).length) fs.file(`usr/bin/${tool}`, path, 0o755);
    else if (busybox) fs.symlink(`usr/bin/${tool}`, 'busybox');
  }
}

async function addNode(fs: RootFs, copier: ReturnType<typeof createLibraryCopier>, options: AssembleOptions): Promise<void> {
  fs.file(CONTAINER_PATHS.node, await nodeBinaryForImage(join(options.cacheDir, 'node'), options.signal), 0o755);
  const missing = await copier.addFor(process.execPath);
  if (missing.length) throw new Error(`node needs libraries that are missing: ${missing.join(', ')}`);
}

const CA_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt'];

/** OpenSSL's default paths on Debian point at /etc/ssl; Node carries its own roots. */
async function addCaCertificates(fs: RootFs, log: (line: string) => void): Promise<void> {
  for (const bundle of CA_BUNDLES) {
    if (await access(bundle).then(() => true, () => false)) {
      fs.file('etc/ssl/certs/ca-certificates.crt', bundle, 0o644);
      fs.symlink('usr/lib/ssl/cert.pem', '/etc/ssl/certs/ca-certificates.crt');
      fs.symlink('usr/lib/ssl/certs', '/etc/ssl/certs');
      return;
    }
  }
  log('no CA certificate bundle on this machine: Python TLS in the image has no trusted roots');
}

function addDaemon(fs: RootFs, files: DaemonFiles): void {
  fs.content(CONTAINER_PATHS.daemon, files.bundle, 0o644);
  fs.content(CONTAINER_PATHS.bootstrap, files.bootstrap, 0o755);
  const chunksDir = path.posix.join(path.posix.dirname(CONTAINER_PATHS.daemon), DAEMON_FILES.chunksDir);
  for (const [name, content] of files.chunks) fs.content(path.posix.join(chunksDir, name), content, 0o644);
}

export interface AssembleOptions {
  readonly files: DaemonFiles;
  readonly python: PythonSource;
  readonly cacheDir: string;
  readonly signal?: AbortSignal;
  readonly log: (line: string) => void;
}

export interface AssembledRootFs {
  readonly fs: RootFs;
  /** Removes scratch files; call after the tar has been consumed. */
  cleanup(): Promise<void>;
}

export async function assembleRootFs(options: AssembleOptions): Promise<AssembledRootFs> {
  const fs = new RootFs();
  addDirectories(fs);
  addAccounts(fs);
  const copier = createLibraryCopier(fs, { signal: options.signal });
  await addNode(fs, copier, options);
  await addShell(fs, copier);
  await addCaCertificates(fs, options.log);
  const cleanup = await addPython(fs, options.python, options);
  addDaemon(fs, options.files);
  return { fs, cleanup };
}

export function rootFsTar(assembled: AssembledRootFs): Readable {
  return assembled.fs.toTar();
}
