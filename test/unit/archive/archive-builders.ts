/**
 * Builders of hostile and good archives for the archive tests: a small zip writer (stored
 * or deflated entries, Unix modes, sizes that may lie) and tar.gz via tar-stream, which
 * writes whatever names and types it is given.
 */
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createDeflateRaw, crc32, createGzip, deflateRawSync } from 'node:zlib';
import tarStream from 'tar-stream';

export interface ZipItem {
  readonly name: string;
  /** Data, or a generator of a large body (then crc and sizes are computed while deflating). */
  readonly data?: Buffer | string;
  /** Unix mode including the type bits (0o100644 file, 0o040755 dir, 0o120777 symlink, 0o020644 char device). */
  readonly mode?: number;
  /** Override the uncompressed size written in the headers (to lie). */
  readonly declaredSize?: number;
  /** Pre-deflated data with its crc and real size (for the 1 GB bomb). */
  readonly deflated?: { readonly bytes: Buffer; readonly crc: number; readonly size: number };
}

/** Writes a zip with a central directory; versionMadeBy = Unix so modes are honoured. */
export async function writeZip(file: string, items: readonly ZipItem[]): Promise<void> {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const item of items) {
    const name = Buffer.from(item.name, 'utf8');
    const raw = item.data === undefined ? Buffer.alloc(0) : Buffer.from(item.data);
    const compressed = item.deflated?.bytes ?? (raw.length > 0 ? deflateRawSync(raw) : Buffer.alloc(0));
    const method = item.deflated || raw.length > 0 ? 8 : 0;
    const crc = item.deflated?.crc ?? crc32(raw);
    const realSize = item.deflated?.size ?? raw.length;
    const size = item.declaredSize ?? realSize;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x800, 6); // UTF-8 names
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(size >>> 0, 22);
    local.writeUInt16LE(name.length, 26);
    parts.push(local, name, compressed);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE((3 << 8) | 20, 4); // made by Unix
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(0x800, 8);
    cd.writeUInt16LE(method, 10);
    cd.writeUInt32LE(crc >>> 0, 16);
    cd.writeUInt32LE(compressed.length, 20);
    cd.writeUInt32LE(size >>> 0, 24);
    cd.writeUInt16LE(name.length, 28);
    const mode = item.mode ?? (item.name.endsWith('/') ? 0o040755 : 0o100644);
    cd.writeUInt32LE(((mode & 0xffff) << 16) >>> 0, 38);
    cd.writeUInt32LE(offset, 42);
    central.push(cd, name);
    offset += local.length + name.length + compressed.length;
  }
  const cdBytes = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(items.length, 8);
  end.writeUInt16LE(items.length, 10);
  end.writeUInt32LE(cdBytes.length, 12);
  end.writeUInt32LE(offset, 16);
  await writeFile(file, Buffer.concat([...parts, cdBytes, end]));
}

/** `size` zero bytes, deflated chunk by chunk (about 1 MB of output per GB, bounded memory). */
export async function deflatedZeros(size: number): Promise<{ bytes: Buffer; crc: number; size: number }> {
  const chunk = Buffer.alloc(1024 * 1024);
  let crc = 0;
  async function* zeros(): AsyncGenerator<Buffer> {
    for (let left = size; left > 0; left -= chunk.length) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      crc = crc32(piece, crc);
      yield piece;
    }
  }
  const out: Buffer[] = [];
  const deflate = createDeflateRaw({ level: 9 });
  deflate.on('data', (b: Buffer) => out.push(b));
  await pipeline(Readable.from(zeros()), deflate);
  return { bytes: Buffer.concat(out), crc, size };
}

export interface TarItem {
  readonly name: string;
  readonly type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  readonly data?: Buffer | string;
  readonly linkname?: string;
  readonly mode?: number;
  /** A large body of zeros streamed into the entry. */
  readonly zeros?: number;
}

export async function writeTarGz(file: string, items: readonly TarItem[]): Promise<void> {
  const pack = tarStream.pack();
  const written = pipeline(Readable.from(iterate(pack)), createGzip({ level: 1 }), createWriteStream(file));
  for (const item of items) {
    const type = item.type ?? 'file';
    const header = { name: item.name, type, mode: item.mode ?? (type === 'directory' ? 0o755 : 0o644), ...(item.linkname ? { linkname: item.linkname } : {}) };
    if (item.zeros !== undefined) {
      const sink = pack.entry({ ...header, size: item.zeros });
      const chunk = Buffer.alloc(1024 * 1024);
      for (let left = item.zeros; left > 0; left -= chunk.length) {
        if (!sink.write(left >= chunk.length ? chunk : chunk.subarray(0, left))) await new Promise<void>((r) => sink.once('drain', () => r()));
      }
      sink.end(undefined);
      continue;
    }
    await new Promise<void>((resolve, reject) => {
      const body = item.data === undefined ? undefined : Buffer.from(item.data);
      if (body !== undefined) pack.entry({ ...header, size: body.length }, body, (err) => (err ? reject(err) : resolve()));
      else pack.entry(header, (err) => (err ? reject(err) : resolve())).end(undefined);
    });
  }
  pack.finalize();
  await written;
}

async function* iterate(pack: tarStream.Pack): AsyncGenerator<Buffer> {
  for await (const chunk of pack as AsyncIterable<Buffer>) yield chunk;
}
