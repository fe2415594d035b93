/**
 * The bot image's root filesystem, described in memory and written as one tar stream for
 * `docker import`. Files are streamed from the host at tar time, so nothing is staged on
 * disk and a 100 MB Node binary costs one read.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import tar from 'tar-stream';

type EntryHeader = Partial<tar.Header> & { name: string };

interface Owner {
  readonly uid?: number;
  readonly gid?: number;
}

type Entry =
  | { readonly type: 'directory'; readonly mode: number; readonly uid: number; readonly gid: number }
  | { readonly type: 'file'; readonly mode: number; readonly hostPath: string; readonly uid: number; readonly gid: number }
  | { readonly type: 'content'; readonly mode: number; readonly content: Buffer; readonly uid: number; readonly gid: number }
  | { readonly type: 'symlink'; readonly target: string };

/** Top-level directories that are symlinks into /usr on a merged-/usr system (Debian 12). */
const MERGED_USR = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'] as const;

/**
 * Where a host path lives in the image. The image is merged-/usr (like Debian 12), so
 * `/lib/x/libc.so.6` and `/usr/lib/x/libc.so.6` are one file, stored once under /usr;
 * writing through the `/lib` symlink inside a tar would not be portable.
 */
export function imagePath(hostPath: string): string {
  const clean = normalize(hostPath);
  const top = clean.split('/')[0] ?? '';
  return (MERGED_USR as readonly string[]).includes(top) ? `usr/${clean}` : clean;
}

function normalize(path: string): string {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (!part || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return parts.join('/');
}

export class RootFs {
  private readonly entries = new Map<string, Entry>();

  constructor() {
    this.dir('usr', 0o755);
    for (const top of MERGED_USR) this.symlink(top, `usr/${top}`);
  }

  has(path: string): boolean {
    return this.entries.has(imagePath(path));
  }

  paths(): string[] {
    return [...this.entries.keys()].sort();
  }

  dir(path: string, mode = 0o755, owner: Owner = {}): this {
    const p = imagePath(path);
    if (!p) return this;
    this.parents(p);
    this.entries.set(p, { type: 'directory', mode, uid: owner.uid ?? 0, gid: owner.gid ?? 0 });
    return this;
  }

  /** Copies a host file (following symlinks); the first file added at a path wins. */
  file(path: string, hostPath: string, mode?: number, owner: Owner = {}): this {
    const p = imagePath(path);
    if (this.entries.has(p)) return this;
    this.parents(p);
    this.entries.set(p, { type: 'file', mode: mode ?? -1, hostPath, uid: owner.uid ?? 0, gid: owner.gid ?? 0 });
    return this;
  }

  content(path: string, content: string | Buffer, mode = 0o644, owner: Owner = {}): this {
    const p = imagePath(path);
    this.parents(p);
    const buf = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    this.entries.set(p, { type: 'content', mode, content: buf, uid: owner.uid ?? 0, gid: owner.gid ?? 0 });
    return this;
  }

  symlink(path: string, target: string): this {
    const p = normalize(path);
    this.parents(p);
    this.entries.set(p, { type: 'symlink', target });
    return this;
  }

  remove(path: string): void {
    this.entries.delete(imagePath(path));
  }

  private parents(path: string): void {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (!this.entries.has(parent)) this.entries.set(parent, { type: 'directory', mode: 0o755, uid: 0, gid: 0 });
    }
  }

  /** Total bytes of file contents (host files are stat'ed). */
  async contentBytes(): Promise<number> {
    let total = 0;
    for (const entry of this.entries.values()) {
      if (entry.type === 'content') total += entry.content.length;
      if (entry.type === 'file') total += (await stat(entry.hostPath)).size;
    }
    return total;
  }

  /** Parents sort before their children, as `docker import` expects. */
  toTar(): Readable {
    const pack = tar.pack();
    void this.writeEntries(pack).then(
      () => pack.finalize(),
      (err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))),
    );
    // tar-stream is built on streamx; dockerode wants a Node stream of bytes.
    return Readable.from(pack, { objectMode: false });
  }

  private async writeEntries(pack: tar.Pack): Promise<void> {
    const mtime = new Date(0);
    for (const name of this.paths()) {
      const entry = this.entries.get(name);
      if (!entry) continue;
      if (entry.type === 'directory') {
        await addEntry(pack, { name, type: 'directory', mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime });
      } else if (entry.type === 'symlink') {
        await addEntry(pack, { name, type: 'symlink', linkname: entry.target, mode: 0o777, mtime });
      } else if (entry.type === 'content') {
        await addEntry(pack, { name, type: 'file', mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime }, entry.content);
      } else {
        const st = await stat(entry.hostPath);
        const mode = entry.mode >= 0 ? entry.mode : st.mode & 0o7777;
        // Keep the source's mtime: Python validates .pyc files against it.
        const header: EntryHeader = { name, type: 'file', mode, uid: entry.uid, gid: entry.gid, size: st.size, mtime: st.mtime };
        const sink = pack.entry(header);
        await pipeline(createReadStream(entry.hostPath), sink);
      }
    }
  }
}

function addEntry(pack: tar.Pack, header: EntryHeader, content?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error | null): void => (err ? reject(err) : resolve());
    if (content) pack.entry(header, content, done);
    else pack.entry(header, done);
  });
}
