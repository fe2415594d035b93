/**
 * The one loop over a package's entries that inspection and extraction share: it applies
 * every safety rule (entry-rules.ts) and counts the bytes actually decompressed, so the
 * visitor only ever sees entries that passed, with bodies that stop at the cap.
 */
import { PackageRejectedError } from '../domain/errors.js';
import { EntryLedger, formatBytes, normalizeEntryPath } from './entry-rules.js';
import type { RawEntry, RawItem } from './raw-entry.js';
import { readTarGz } from './tar-reader.js';
import type { ArchiveFormat, PackageEntryType, PackageLimits, ReadOptions } from './types.js';

export interface WalkedEntry {
  readonly path: string;
  readonly type: PackageEntryType;
  readonly executable: boolean;
  readonly target?: string;
}

export type EntryVisitor = (entry: WalkedEntry, body: AsyncIterable<Buffer>) => Promise<void>;

export interface WalkResult {
  readonly totalUncompressed: number;
  readonly entryCount: number;
}

export async function walkPackage(
  file: string,
  format: ArchiveFormat,
  limits: PackageLimits,
  visit: EntryVisitor,
  options: ReadOptions = {},
): Promise<WalkResult> {
  const ledger = new EntryLedger(limits);
  const items = format === 'zip' ? await zipItems(file, limits) : readTarGz(file, limits, options.inMemoryUpTo);
  let total = 0;
  let declared = 0;
  const overCap = (path: string): PackageRejectedError =>
    new PackageRejectedError(`the package expands to more than the ${formatBytes(limits.maxBytes)} allowed`, path);

  for await (const { entry, body } of items) {
    const path = checkedPath(entry);
    if (path === '') {
      await drain(body);
      continue;
    }
    const type = allowedType(entry, path);
    declared += entry.declaredSize;
    if (declared > limits.maxBytes) {
      throw new PackageRejectedError(`the package declares more than the ${formatBytes(limits.maxBytes)} allowed`, path);
    }
    ledger.add(path, type, entry.linkTarget);

    const counted = {
      next: async (): Promise<IteratorResult<Buffer>> => {
        const r = await body.next();
        if (!r.done) {
          total += r.value.length;
          if (total > limits.maxBytes) throw overCap(path);
        }
        return r;
      },
    };
    // `return` is a no-op so that a visitor leaving its loop early does not end the archive stream.
    const iterable: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]: () => ({ next: counted.next, return: async () => ({ done: true, value: undefined }) }),
    };
    await visit({ path, type, executable: entry.executable, ...(type === 'symlink' ? { target: entry.linkTarget ?? '' } : {}) }, iterable);
    await drain(counted);
  }
  ledger.finish();
  return { totalUncompressed: total, entryCount: ledger.entryCount };
}

/**
 * yauzl is imported only for a .zip: the in-container daemon extracts a package on every
 * container start, nearly always a .tar.gz, and need not parse and run yauzl for that.
 */
async function zipItems(file: string, limits: PackageLimits): Promise<AsyncGenerator<RawItem, void, undefined>> {
  const { readZip } = await import('./zip-reader.js');
  return readZip(file, limits);
}

function checkedPath(entry: RawEntry): string {
  const path = normalizeEntryPath(entry.name);
  if (path === '' && entry.type !== 'dir') throw new PackageRejectedError('entry has an empty path', entry.name);
  return path;
}

function allowedType(entry: RawEntry, path: string): PackageEntryType {
  switch (entry.type) {
    case 'file':
    case 'dir':
    case 'symlink':
      return entry.type;
    case 'hardlink':
      throw new PackageRejectedError('hard links are not allowed', path);
    case 'device':
      throw new PackageRejectedError(`special files are not allowed (${entry.label ?? 'device'})`, path);
    case 'unsupported':
      throw new PackageRejectedError(`unsupported entry (${entry.label ?? 'unknown type'})`, path);
  }
}

async function drain(it: AsyncIterator<Buffer>): Promise<void> {
  for (;;) {
    const r = await it.next();
    if (r.done) return;
  }
}
