/**
 * A streaming reader of .tar.gz packages: gunzip, then tar headers parsed here (ustar, GNU
 * long names, pax), so that every byte is counted as it is decompressed and each entry is
 * handed over only after the previous one was fully consumed.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline, type Readable } from 'node:stream';
import { createGunzip, gunzipSync } from 'node:zlib';
import { PackageRejectedError } from '../domain/errors.js';
import { formatBytes } from './entry-rules.js';
import type { RawEntry, RawEntryType, RawItem } from './raw-entry.js';
import type { PackageLimits } from './types.js';

const BLOCK = 512;
const MAX_META_BYTES = 64 * 1024;
const MAX_CONSECUTIVE_META = 8;
/**
 * Read and inflate in 64 KiB steps instead of zlib's default 16 KiB: every step is a trip
 * through libuv's thread pool, and the daemon extracts a package on every container start
 * (a 1 MB package: 16 inflate steps and file writes instead of 64).
 */
const IO_CHUNK = 64 * 1024;

/** Pulls bytes from a stream in the sizes the tar parser asks for, counting them all. */
class ByteReader {
  private readonly it: AsyncIterator<Buffer>;
  private pending: Buffer = Buffer.alloc(0);
  private total = 0;

  constructor(source: AsyncIterable<Buffer>, private readonly cap: number, private readonly overCap: () => Error) {
    this.it = source[Symbol.asyncIterator]();
  }

  /** Up to `max` bytes; null at the end of the stream. */
  async chunk(max: number): Promise<Buffer | null> {
    if (this.pending.length === 0) {
      const next = await this.it.next();
      if (next.done) return null;
      const buf = next.value as Buffer;
      this.total += buf.length;
      if (this.total > this.cap) throw this.overCap();
      this.pending = buf;
    }
    const out = this.pending.subarray(0, max);
    this.pending = this.pending.subarray(out.length);
    return out;
  }

  /** Exactly `n` bytes; null when the stream ends before the first byte; throws when it ends midway. */
  async exact(n: number): Promise<Buffer | null> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      const c = await this.chunk(n - got);
      if (c === null) {
        if (got === 0) return null;
        throw corrupt('the archive ends in the middle of an entry');
      }
      parts.push(c);
      got += c.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }

  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      const c = await this.chunk(Math.min(left, 64 * 1024));
      if (c === null) throw corrupt('the archive ends in the middle of an entry');
      left -= c.length;
    }
  }

  async close(): Promise<void> {
    await this.it.return?.();
  }
}

function corrupt(reason: string, entry?: string): PackageRejectedError {
  return new PackageRejectedError(`the .tar.gz is corrupt: ${reason}`, entry);
}

function cString(buf: Buffer, start: number, len: number): string {
  const field = buf.subarray(start, start + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? field.length : nul).toString('utf8');
}

/** Octal (or GNU base-256) numeric field; base-256 values only appear above 8 GiB, so they come back as Infinity. */
function numberField(buf: Buffer, start: number, len: number): number {
  if ((buf[start]! & 0x80) !== 0) return Number.POSITIVE_INFINITY;
  const text = buf.subarray(start, start + len).toString('latin1').replace(/[\0 ]+$/g, '').replace(/^[\0 ]+/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return Number.NaN;
  return parseInt(text, 8);
}

function checksumValid(header: Buffer): boolean {
  const stored = numberField(header, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : header[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

function parsePax(body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < body.length) {
    const space = body.indexOf(0x20, pos);
    if (space === -1) break;
    const len = parseInt(body.subarray(pos, space).toString('latin1'), 10);
    if (!Number.isFinite(len) || len <= 0 || pos + len > body.length) throw corrupt('malformed pax header');
    const record = body.subarray(space + 1, pos + len).toString('utf8').replace(/\n$/, '');
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += len;
  }
  return out;
}

const TYPE_BY_FLAG: Readonly<Record<string, { type: RawEntryType; label?: string }>> = {
  '0': { type: 'file' },
  '\0': { type: 'file' },
  '7': { type: 'file' },
  '5': { type: 'dir' },
  '2': { type: 'symlink' },
  '1': { type: 'hardlink' },
  '3': { type: 'device', label: 'character device' },
  '4': { type: 'device', label: 'block device' },
  '6': { type: 'device', label: 'FIFO' },
};

interface Pending {
  path?: string;
  linkpath?: string;
  size?: number;
}

export async function* readTarGz(file: string, limits: PackageLimits, inMemoryUpTo = 0): AsyncGenerator<RawItem, void, undefined> {
  // Headers, padding and long names come on top of the file bytes; bounded by the entry cap.
  const rawCap = limits.maxBytes + (limits.maxFiles + 2) * (2 * BLOCK + MAX_META_BYTES) + 1024 * 1024;
  let gunzip: Readable | undefined;
  try {
    const whole = await inflateWhole(file, Math.min(inMemoryUpTo, rawCap));
    if (whole === undefined) gunzip = pipeline(createReadStream(file, { highWaterMark: IO_CHUNK }), createGunzip({ chunkSize: IO_CHUNK }), () => {});
    const source = gunzip ?? once(whole!);
    const reader = new ByteReader(source, rawCap, () =>
      new PackageRejectedError(`the package expands to more than the ${formatBytes(limits.maxBytes)} allowed`),
    );
    try {
      // In memory, a file's body is handed over whole (one write); streamed, in 64 KiB pieces.
      yield* readEntries(reader, whole === undefined ? IO_CHUNK : Number.POSITIVE_INFINITY);
    } finally {
      await reader.close();
    }
  } catch (err) {
    if (err instanceof PackageRejectedError) throw err;
    const code = (err as { code?: string }).code ?? '';
    if (code.startsWith('Z_') || code === 'ERR_STREAM_PREMATURE_CLOSE') {
      throw new PackageRejectedError(`the .tar.gz is corrupt: ${(err as Error).message}`, undefined, { cause: err });
    }
    throw err;
  } finally {
    gunzip?.destroy();
  }
}

/**
 * The whole inflated content when the file has at most `upTo` bytes and so has what it
 * inflates to (zlib stops at the cap: a bomb costs at most `upTo` of memory); undefined
 * otherwise, and the caller streams. Synchronous inflation of a few MB blocks for a few ms,
 * which only callers that asked for it (ReadOptions.inMemoryUpTo) accept.
 */
async function inflateWhole(file: string, upTo: number): Promise<Buffer | undefined> {
  if (upTo <= 0) return undefined;
  const handle = await open(file, 'r');
  let compressed: Buffer;
  try {
    if ((await handle.stat()).size > upTo) return undefined;
    compressed = await handle.readFile();
  } finally {
    await handle.close();
  }
  try {
    return gunzipSync(compressed, { maxOutputLength: upTo });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') return undefined;
    throw err;
  }
}

async function* once(buf: Buffer): AsyncGenerator<Buffer, void, undefined> {
  yield buf;
}

/** `bodyChunk`: the largest piece of a file's body handed over at once. */
async function* readEntries(reader: ByteReader, bodyChunk: number): AsyncGenerator<RawItem, void, undefined> {
  let pending: Pending = {};
  let metaInARow = 0;
  let sawEntry = false;
  for (;;) {
    const header = await reader.exact(BLOCK);
    if (header === null) {
      if (!sawEntry) throw corrupt('no tar entries found');
      return; // No end-of-archive marker: tolerated, as GNU tar does.
    }
    if (isZeroBlock(header)) {
      const next = await reader.exact(BLOCK);
      if (next === null || isZeroBlock(next)) return;
      throw corrupt('data after an end-of-archive block');
    }
    if (!checksumValid(header)) throw corrupt(sawEntry ? 'header checksum mismatch' : 'not a tar archive inside the gzip stream');
    sawEntry = true;
    const flag = String.fromCharCode(header[156]!);
    const headerSize = numberField(header, 124, 12);
    if (Number.isNaN(headerSize)) throw corrupt('bad size field', cString(header, 0, 100));
    const size = pending.size ?? headerSize;
    const padded = Math.ceil(size / BLOCK) * BLOCK;

    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (++metaInARow > MAX_CONSECUTIVE_META) throw corrupt('too many extended headers in a row');
      if (headerSize > MAX_META_BYTES) throw corrupt(`an extended header is larger than ${formatBytes(MAX_META_BYTES)}`);
      const body = (await reader.exact(Math.ceil(headerSize / BLOCK) * BLOCK)) ?? Buffer.alloc(0);
      const data = body.subarray(0, headerSize);
      if (flag === 'x') applyPax(pending, parsePax(data));
      else if (flag === 'L') pending.path = cString(data, 0, data.length);
      else if (flag === 'K') pending.linkpath = cString(data, 0, data.length);
      // 'g' (global pax, e.g. git archive's commit id) carries nothing we use.
      continue;
    }
    metaInARow = 0;

    const ustarPrefix = header.subarray(257, 263).toString('latin1') === 'ustar\0' ? cString(header, 345, 155) : '';
    const baseName = cString(header, 0, 100);
    const name = pending.path ?? (ustarPrefix ? `${ustarPrefix}/${baseName}` : baseName);
    const linkTarget = pending.linkpath ?? cString(header, 157, 100);
    pending = {};

    let kind = TYPE_BY_FLAG[flag] ?? { type: 'unsupported' as const, label: `tar entry type ${JSON.stringify(flag)}` };
    // Pre-POSIX archives mark directories only by a trailing slash.
    if ((flag === '\0' || flag === '0') && name.endsWith('/') && size === 0) kind = { type: 'dir' };
    const mode = numberField(header, 100, 8);
    const entry: RawEntry = {
      name,
      type: kind.type,
      ...(kind.label ? { label: kind.label } : {}),
      executable: Number.isFinite(mode) && (mode & 0o111) !== 0,
      declaredSize: size,
      ...(kind.type === 'symlink' || kind.type === 'hardlink' ? { linkTarget } : {}),
    };
    if (!Number.isFinite(size)) {
      // Let the walker reject it with the entry's name: nothing is read.
      yield { entry, body: emptyIterator() };
      return;
    }
    let remaining = size;
    const body: AsyncIterator<Buffer> = {
      next: async () => {
        if (remaining === 0) return { done: true, value: undefined };
        const c = await reader.chunk(Math.min(remaining, bodyChunk));
        if (c === null) throw corrupt('the archive ends in the middle of an entry', name);
        remaining -= c.length;
        return { done: false, value: c };
      },
    };
    yield { entry, body };
    // The walker drains bodies; skip whatever is left, then the padding.
    await reader.skip(remaining + (padded - size));
  }
}

function applyPax(pending: Pending, pax: Map<string, string>): void {
  for (const key of pax.keys()) {
    if (key.startsWith('GNU.sparse')) throw corrupt('sparse files are not supported');
  }
  const path = pax.get('path');
  if (path !== undefined) pending.path = path;
  const linkpath = pax.get('linkpath');
  if (linkpath !== undefined) pending.linkpath = linkpath;
  const size = pax.get('size');
  if (size !== undefined) {
    if (!/^\d+$/.test(size)) throw corrupt('malformed size in a pax header');
    pending.size = Number(size);
  }
}

function emptyIterator(): AsyncIterator<Buffer> {
  return { next: async () => ({ done: true, value: undefined }) };
}
