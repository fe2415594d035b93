/**
 * Copies the shared libraries that binaries need into the image, at paths the image's
 * loader searches without an ld.so.cache (the loader's built-in system directories).
 */
import { realpath } from 'node:fs/promises';
import { dirname, posix, relative } from 'node:path';
import { libraryDeps } from './elf.js';
import { imagePath, type RootFs } from './rootfs.js';

/** A host directory that mirrors the image's root (an extracted .deb tree). */
export interface StagedRoot {
  readonly hostDir: string;
}

export interface LibraryCopier {
  /**
   * Adds `binary`'s libraries. Returns the sonames that could not be found (the caller
   * decides whether that is fatal).
   */
  addFor(binary: string): Promise<readonly string[]>;
}

export function createLibraryCopier(
  fs: RootFs,
  options: { staged?: StagedRoot; libraryPath?: readonly string[]; signal?: AbortSignal },
): LibraryCopier {
  let libcDir: string | undefined;
  const systemDirs = new Set(['lib', 'lib64', 'usr/lib', 'usr/lib64'].map(imagePath));

  const isSystemDir = (dir: string): boolean =>
    systemDirs.has(dir) || (libcDir !== undefined && dir === libcDir);

  return {
    async addFor(binary) {
      const deps = await libraryDeps(binary, { libraryPath: options.libraryPath, signal: options.signal });
      // The loader and libc come first in ldd's answer only sometimes; find libc's dir first
      // so that non-standard libraries can be moved next to it.
      for (const lib of deps.resolved) {
        if (/\/libc\.so\.\d+$/.test(lib)) libcDir = posix.dirname(imagePath(lib));
      }
      for (const lib of deps.resolved) {
        const staged = options.staged && isInside(options.staged.hostDir, lib);
        const inImage = staged ? imagePath(relative(options.staged!.hostDir, lib)) : imagePath(lib);
        const isLoader = /\/ld-linux[^/]*\.so[.\d]*$|\/ld-musl[^/]*$|\/ld64\.so[.\d]*$/.test(lib);
        const dir = posix.dirname(inImage);
        const target = isLoader || isSystemDir(dir) || !libcDir ? inImage : `${libcDir}/${posix.basename(inImage)}`;
        fs.file(target, await realpath(lib), 0o755);
      }
      return deps.missing;
    },
  };
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith('..') && !rel.startsWith('/') && dirname(path) !== path;
}
