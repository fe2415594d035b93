/** Adds a host directory tree to the image, pruning what a bot never needs. */
import { readdir, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { RootFs } from './rootfs.js';

export interface TreeOptions {
  /** Relative paths (posix) to leave out, directories with everything below them. */
  readonly skip?: (relPath: string, isDirectory: boolean) => boolean;
  /**
   * Keep symlinks as symlinks (an extracted .deb tree mirrors the image, so its absolute
   * links are right inside the image); otherwise copy what they point to.
   */
  readonly keepSymlinks?: boolean;
}

/** Returns the host paths of the regular files added. */
export async function addTree(fs: RootFs, hostDir: string, imageDir: string, options: TreeOptions = {}): Promise<string[]> {
  const added: string[] = [];
  fs.dir(imageDir);
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(hostDir, rel), { withFileTypes: true });
    for (const entry of entries) {
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      const host = join(hostDir, childRel);
      const inImage = posix.join(imageDir, childRel);
      if (options.skip?.(childRel, entry.isDirectory())) continue;
      if (entry.isSymbolicLink() && options.keepSymlinks) {
        fs.symlink(inImage, await readlink(host));
      } else if (entry.isDirectory()) {
        fs.dir(inImage);
        await walk(childRel);
      } else if (entry.isFile() || entry.isSymbolicLink()) {
        fs.file(inImage, host);
        added.push(host);
      }
    }
  };
  await walk('');
  return added;
}
