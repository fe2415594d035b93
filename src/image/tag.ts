/**
 * The bot image's tag: `berth-bot:<12 hex>` over everything that goes into it, so a
 * changed daemon, bootstrap.sh, Node or Python gives a new image, and an image that
 * exists already is reused as it is.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { NotFoundError } from '../domain/errors.js';
import { BUILDER_VERSION, DAEMON_FILES, IMAGE_REPOSITORY } from './constants.js';
import { defaultDaemonDir } from './paths.js';
import { describePython, probePython, type PythonSource } from './python.js';

export interface DaemonFiles {
  readonly bundle: Buffer;
  readonly bootstrap: Buffer;
  /** File name (inside DAEMON_FILES.chunksDir) → content, sorted by name. */
  readonly chunks: ReadonlyMap<string, Buffer>;
}

export async function readDaemonFiles(daemonDir: string): Promise<DaemonFiles> {
  const read = async (name: string): Promise<Buffer> => {
    try {
      return await readFile(join(daemonDir, name));
    } catch (err) {
      throw new NotFoundError(`${join(daemonDir, name)} is missing: build the daemon first (npm run build)`, { cause: err });
    }
  };
  const chunks = new Map<string, Buffer>();
  for (const name of await chunkNames(daemonDir)) chunks.set(name, await read(join(DAEMON_FILES.chunksDir, name)));
  return { bundle: await read(DAEMON_FILES.bundle), bootstrap: await read(DAEMON_FILES.bootstrap), chunks };
}

/** The entry file imports its chunks by relative path, so every one of them must ship. */
async function chunkNames(daemonDir: string): Promise<string[]> {
  try {
    return (await readdir(join(daemonDir, DAEMON_FILES.chunksDir))).filter((n) => n.endsWith('.mjs')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

const probes = new Map<string, Promise<PythonSource | undefined>>();

/** Probing runs apt-cache / python once per process and setting. */
export function cachedPythonProbe(signal?: AbortSignal): Promise<PythonSource | undefined> {
  const key = process.env.BERTH_IMAGE_PYTHON ?? '';
  let probe = probes.get(key);
  if (!probe) {
    probe = probePython(signal);
    probes.set(key, probe);
    probe.catch(() => probes.delete(key));
  }
  return probe;
}

export function computeTag(files: DaemonFiles, node: string, python: string): string {
  const hash = createHash('sha256');
  for (const part of [`builder:${BUILDER_VERSION}`, `node:${node}`, `python:${python}`]) hash.update(part).update('\0');
  hash.update(files.bundle).update('\0').update(files.bootstrap);
  for (const [name, content] of files.chunks) hash.update('\0').update(name).update('\0').update(content);
  return `${IMAGE_REPOSITORY}:${hash.digest('hex').slice(0, 12)}`;
}

export function nodeDescriptor(): string {
  return `${process.version}-${process.arch}`;
}

/** The tag the offline builder would give the image on this machine. */
export async function botImageTag(daemonDir: string = defaultDaemonDir(), signal?: AbortSignal): Promise<string> {
  const files = await readDaemonFiles(daemonDir);
  return computeTag(files, nodeDescriptor(), describePython(await cachedPythonProbe(signal)));
}
