/**
 * Builds bot packages for tests: well-formed and hostile `.tar.gz` (tar-stream, so any
 * entry name or type can be written) and stored `.zip` files.
 */
import { writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

export interface FixtureEntry {
  readonly path: string;
  readonly body?: string | Buffer;
  readonly type?: 'file' | 'directory' | 'symlink';
  readonly linkname?: string;
}

export async function tarGzBuffer(entries: readonly FixtureEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    if (type === 'file') {
      const body = Buffer.isBuffer(e.body) ? e.body : Buffer.from(e.body ?? '');
      pack.entry({ name: e.path, type, size: body.length, mode: 0o644 }, body);
    } else if (type === 'symlink') {
      pack.entry({ name: e.path, type, linkname: e.linkname ?? '' });
    } else {
      pack.entry({ name: e.path, type, mode: 0o755 });
    }
  }
  pack.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

export async function writeTarGz(file: string, entries: readonly FixtureEntry[]): Promise<string> {
  await writeFile(file, await tarGzBuffer(entries));
  return file;
}

/** A zip with stored (uncompressed) regular files. */
export function zipBuffer(files: readonly { path: string; body: string }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const f of files) {
    const name = Buffer.from(f.path);
    const data = Buffer.from(f.body);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    centrals.push(central, name);
    offset += local.length + name.length + data.length;
  }
  const dir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = (CRC_TABLE[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export const PYTHON_BOT: readonly FixtureEntry[] = [
  { path: 'main.py', body: 'def main(bot_id, config):\n    print(bot_id)\n' },
  { path: 'lib/', type: 'directory' },
  { path: 'lib/helpers.py', body: 'X = 1\n' },
];

export const THE0_BOT: readonly FixtureEntry[] = [
  {
    path: 'bot-config.yaml',
    body: 'name: Price watcher\ntype: realtime\nruntime: python3.11\nentrypoints:\n  bot: src/watch.py\n',
  },
  { path: 'src/watch.py', body: 'def main(bot_id, config):\n    pass\n' },
];
