/**
 * Archive format by magic bytes: the file name is never trusted.
 */
import { open } from 'node:fs/promises';
import { PackageRejectedError } from '../domain/errors.js';
import type { ArchiveFormat } from './types.js';

const ZIP_LOCAL_HEADER = [0x50, 0x4b, 0x03, 0x04];
const ZIP_EMPTY_ARCHIVE = [0x50, 0x4b, 0x05, 0x06];
const GZIP = [0x1f, 0x8b];

function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  return bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);
}

/** Throws PackageRejectedError for anything that is neither a zip nor a gzip stream. */
export function detectFormat(firstBytes: Uint8Array): ArchiveFormat {
  if (startsWith(firstBytes, ZIP_LOCAL_HEADER) || startsWith(firstBytes, ZIP_EMPTY_ARCHIVE)) return 'zip';
  if (startsWith(firstBytes, GZIP)) return 'tar.gz';
  if (firstBytes.length >= 262 && Buffer.from(firstBytes.subarray(257, 262)).toString('latin1') === 'ustar') {
    throw new PackageRejectedError('the package is an uncompressed .tar; compress it with gzip (.tar.gz) or use .zip');
  }
  if (firstBytes.length === 0) throw new PackageRejectedError('the package file is empty');
  throw new PackageRejectedError('the package is neither a .zip nor a .tar.gz file');
}

/** Reads the first bytes of a file and detects its format. */
export async function detectFileFormat(file: string): Promise<ArchiveFormat> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return detectFormat(buf.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}
