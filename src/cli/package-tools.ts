/** The real packing and manifest reading behind `berth deploy` (src/archive). */
import { readFile } from 'node:fs/promises';
import { packDirectory, readManifest } from '../archive/index.js';
import type { PackageTools } from './commands/deploy.js';

export const archiveTools: PackageTools = {
  async packDirectory(dir) {
    const packed = await packDirectory(dir);
    try {
      return { body: await readFile(packed.file), format: packed.format };
    } finally {
      await packed.dispose();
    }
  },
  async archiveManifestName(file) {
    return (await readManifest(file))?.name;
  },
};
