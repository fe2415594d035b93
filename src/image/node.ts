/**
 * The Node binary for the image: the one running Berth (process.execPath, ≥ 20). Release
 * builds carry ~13 MB of debug symbols; when binutils' `strip` is on the machine a
 * stripped copy is cached and used instead (a smaller image, same code).
 */
import { access, mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { tryRun } from './exec.js';

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

export async function nodeBinaryForImage(cacheDir: string, signal?: AbortSignal): Promise<string> {
  const source = process.execPath;
  const st = await stat(source);
  const cached = join(cacheDir, `node-${process.version}-${process.arch}-${st.size}-${Math.trunc(st.mtimeMs)}`);
  if (await exists(cached)) return cached;
  await mkdir(cacheDir, { recursive: true });
  const partial = `${cached}.${process.pid}.tmp`;
  try {
    if ((await tryRun('strip', ['-o', partial, source], { signal })) === undefined) return source;
    // A quick self-check: a broken strip must never end up in an image.
    if ((await tryRun(partial, ['-e', 'process.exit(0)'], { signal })) === undefined) return source;
    await rename(partial, cached);
    return cached;
  } finally {
    await rm(partial, { force: true });
  }
}
