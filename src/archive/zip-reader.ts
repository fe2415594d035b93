/**
 * A streaming reader of .zip packages over yauzl 3: entries come from the central directory
 * one at a time, names are decoded and validated here (not by yauzl, so that every error
 * has the same wording), and each entry's data is inflated as it is read.
 */
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { PackageRejectedError, errorMessage } from '../domain/errors.js';
import { formatBytes } from './entry-rules.js';
import { SYMLINK_TARGET_MAX_BYTES, type RawEntry, type RawItem } from './raw-entry.js';
import type { PackageLimits } from './types.js';

const S_IFMT = 0o170000;
const MODE_TYPES: Readonly<Record<number, Pick<RawEntry, 'type' | 'label'>>> = {
  0o100000: { type: 'file' },
  0o040000: { type: 'dir' },
  0o120000: { type: 'symlink' },
  0o020000: { type: 'device', label: 'character device' },
  0o060000: { type: 'device', label: 'block device' },
  0o010000: { type: 'device', label: 'FIFO' },
  0o140000: { type: 'device', label: 'socket' },
};
const MADE_BY_UNIX = 3;

function corrupt(reason: string, entry?: string, cause?: unknown): PackageRejectedError {
  return new PackageRejectedError(`the .zip is corrupt: ${reason}`, entry, { cause });
}

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.open(
      file,
      { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true, strictFileNames: false },
      (err, zip) => (err ? reject(corrupt(errorMessage(err), undefined, err)) : resolve(zip)),
    );
  });
}

function nextEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | null> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
    };
    const onEntry = (e: yauzl.Entry): void => (cleanup(), resolve(e));
    const onEnd = (): void => (cleanup(), resolve(null));
    const onError = (err: Error): void => (cleanup(), reject(corrupt(err.message, undefined, err)));
    zip.on('entry', onEntry);
    zip.on('end', onEnd);
    zip.on('error', onError);
    zip.readEntry();
  });
}

function openEntryStream(zip: yauzl.ZipFile, entry: yauzl.Entry, name: string): Promise<Readable> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (err, stream) => (err ? reject(corrupt(err.message, name, err)) : resolve(stream)));
  });
}

function entryName(entry: yauzl.Entry): string {
  const raw = entry.fileName as unknown as Buffer;
  // yauzl's own decoder: the Info-ZIP Unicode path field, else UTF-8 or CP437 by the flag bit.
  return (yauzl as unknown as { getFileNameLowLevel(flags: number, name: Buffer, extra: unknown, strict: boolean): string })
    .getFileNameLowLevel(entry.generalPurposeBitFlag, raw, entry.extraFields, false);
}

function classify(entry: yauzl.Entry, name: string): Pick<RawEntry, 'type' | 'label' | 'executable'> {
  const madeBy = entry.versionMadeBy >> 8;
  const mode = madeBy === MADE_BY_UNIX ? (entry.externalFileAttributes >>> 16) & 0xffff : 0;
  const byMode = mode & S_IFMT ? MODE_TYPES[mode & S_IFMT] : undefined;
  if (mode & S_IFMT && !byMode) return { type: 'unsupported', label: `zip entry mode ${(mode & S_IFMT).toString(8)}`, executable: false };
  if (byMode && byMode.type !== 'file') return { ...byMode, executable: false };
  if (name.endsWith('/')) return { type: 'dir', executable: false };
  return { type: 'file', executable: (mode & 0o111) !== 0 };
}

/** Reads a symlink's target (its data) with a small cap. */
async function readLinkTarget(body: AsyncIterator<Buffer>, name: string): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for (let r = await body.next(); !r.done; r = await body.next()) {
    size += r.value.length;
    if (size > SYMLINK_TARGET_MAX_BYTES) {
      throw new PackageRejectedError(`symlink target is longer than ${SYMLINK_TARGET_MAX_BYTES} bytes`, name);
    }
    parts.push(r.value);
  }
  return Buffer.concat(parts).toString('utf8');
}

export async function* readZip(file: string, limits: PackageLimits): AsyncGenerator<RawItem, void, undefined> {
  const zip = await openZip(file);
  try {
    if (zip.entryCount > limits.maxFiles) {
      throw new PackageRejectedError(`the package has ${zip.entryCount} entries, more than the ${limits.maxFiles} allowed`);
    }
    for (;;) {
      const entry = await nextEntry(zip);
      if (entry === null) return;
      const name = entryName(entry);
      const kind = classify(entry, name);
      const base: RawEntry = { name, ...kind, declaredSize: entry.uncompressedSize };
      if (kind.type === 'device' || kind.type === 'unsupported' || kind.type === 'dir') {
        yield { entry: base, body: emptyIterator() };
        continue;
      }
      if (entry.isEncrypted()) throw new PackageRejectedError('encrypted zip entries are not supported', name);
      if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
        throw new PackageRejectedError(`zip compression method ${entry.compressionMethod} is not supported (use deflate)`, name);
      }
      if (entry.uncompressedSize > limits.maxBytes) {
        throw new PackageRejectedError(`the entry declares ${formatBytes(entry.uncompressedSize)}, more than the ${formatBytes(limits.maxBytes)} allowed`, name);
      }
      const stream = await openEntryStream(zip, entry, name);
      try {
        const body = guardedIterator(stream, name);
        if (kind.type === 'symlink') {
          yield { entry: { ...base, linkTarget: await readLinkTarget(body, name) }, body: emptyIterator() };
        } else {
          yield { entry: base, body };
        }
      } finally {
        stream.destroy();
      }
    }
  } finally {
    zip.close();
  }
}

/**
 * The entry's data, with inflate and size-check failures mapped to a rejection that names
 * the entry. The error listener goes on before anything reads: yauzl inflates into the
 * stream as soon as it opens, and its size check fails on the first 16 KiB of a bomb whose
 * header lies, while the walker's visitor may still be creating the destination file. An
 * 'error' with no listener is an uncaught exception: it would take the whole server down.
 */
function guardedIterator(stream: Readable, name: string): AsyncIterator<Buffer> {
  let failure: unknown;
  stream.on('error', (err: unknown) => {
    failure ??= err;
  });
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const rejection = (err: unknown): PackageRejectedError =>
    err instanceof PackageRejectedError ? err : corrupt(errorMessage(err), name, err);
  return {
    next: async () => {
      if (failure !== undefined) throw rejection(failure);
      try {
        return await it.next();
      } catch (err) {
        throw rejection(failure ?? err);
      }
    },
  };
}

function emptyIterator(): AsyncIterator<Buffer> {
  return { next: async () => ({ done: true, value: undefined }) };
}
