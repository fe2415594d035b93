/**
 * Looks inside a package without extracting it: every safety rule applied, every byte
 * decompressed and counted, nothing written to disk.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { PackageRejectedError } from '../domain/errors.js';
import { detectFileFormat } from './detect.js';
import { formatBytes } from './entry-rules.js';
import { MANIFEST_MAX_BYTES, parseManifestWithWarnings } from './manifest.js';
import { MANIFEST_FILE, resolveLimits, type Manifest, type PackageEntry, type PackageInspection, type PackageLimits } from './types.js';
import { walkPackage } from './walk.js';

export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function inspectPackage(file: string, limits?: Partial<PackageLimits>): Promise<PackageInspection> {
  const resolved = resolveLimits(limits);
  const format = await detectFileFormat(file);
  const [sha256, info] = await Promise.all([fileSha256(file), stat(file)]);
  const entries: PackageEntry[] = [];
  let manifestText: string | undefined;

  const { totalUncompressed } = await walkPackage(file, format, resolved, async (entry, body) => {
    if (entry.type !== 'file') {
      entries.push({ path: entry.path, type: entry.type, size: entry.type === 'symlink' ? (entry.target ?? '').length : 0, ...(entry.target !== undefined ? { target: entry.target } : {}) });
      return;
    }
    const keep = entry.path === MANIFEST_FILE;
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      size += chunk.length;
      if (keep) {
        if (size > MANIFEST_MAX_BYTES) throw new PackageRejectedError(`${MANIFEST_FILE} is larger than ${formatBytes(MANIFEST_MAX_BYTES)}`, entry.path);
        parts.push(chunk);
      }
    }
    if (keep) manifestText = Buffer.concat(parts).toString('utf8');
    entries.push({ path: entry.path, type: 'file', size, executable: entry.executable });
  });

  const parsed = manifestText !== undefined ? parseManifestWithWarnings(manifestText) : undefined;
  return {
    format,
    sha256,
    size: info.size,
    entries,
    totalUncompressed,
    ...(parsed ? { manifest: parsed.manifest } : {}),
    ...(parsed?.warnings.length ? { warnings: parsed.warnings } : {}),
  };
}

/** The manifest of a package file, or undefined when it has no `bot-config.yaml` at its root. */
export async function readManifest(file: string, limits?: Partial<PackageLimits>): Promise<Manifest | undefined> {
  return (await inspectPackage(file, limits)).manifest;
}
