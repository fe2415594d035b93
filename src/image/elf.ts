/**
 * Shared-library closure of host binaries, read from `ldd` (glibc's own resolver, so the
 * answer matches what the loader does: RPATH/RUNPATH, LD_LIBRARY_PATH, ld.so.cache).
 */
import { open } from 'node:fs/promises';
import { run, ToolError } from './exec.js';

export interface LibraryDeps {
  /** Absolute host paths of the libraries and of the dynamic loader. */
  readonly resolved: readonly string[];
  /** Sonames the loader could not find. */
  readonly missing: readonly string[];
}

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

export async function isElf(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    return bytesRead === 4 && buf.equals(ELF_MAGIC);
  } finally {
    await fh.close();
  }
}

export function parseLddOutput(output: string): LibraryDeps {
  const resolved: string[] = [];
  const missing: string[] = [];
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('linux-vdso') || line.startsWith('linux-gate')) continue;
    const arrow = /^(\S+)\s+=>\s+(.*)$/.exec(line);
    if (arrow) {
      const [, soname = '', target = ''] = arrow;
      if (target.startsWith('not found')) missing.push(soname);
      else {
        const path = target.replace(/\s*\(0x[0-9a-f]+\)\s*$/i, '').trim();
        if (path.startsWith('/')) resolved.push(path);
      }
      continue;
    }
    // The loader itself is printed without an arrow: `/lib64/ld-linux-x86-64.so.2 (0x…)`.
    const loader = /^(\/\S+)\s+\(0x[0-9a-f]+\)$/i.exec(line);
    if (loader?.[1]) resolved.push(loader[1]);
  }
  return { resolved, missing };
}

/** Libraries of one ELF file; a static binary has none. */
export async function libraryDeps(
  path: string,
  options: { libraryPath?: readonly string[]; signal?: AbortSignal } = {},
): Promise<LibraryDeps> {
  const env = { ...process.env };
  if (options.libraryPath?.length) env.LD_LIBRARY_PATH = options.libraryPath.join(':');
  try {
    return parseLddOutput(await run('ldd', [path], { env, signal: options.signal }));
  } catch (err) {
    // ldd exits 1 for static binaries ("not a dynamic executable"): nothing to copy.
    if (err instanceof ToolError && /not a dynamic executable|statically linked/.test(err.stderr + err.message)) {
      return { resolved: [], missing: [] };
    }
    throw err;
  }
}
