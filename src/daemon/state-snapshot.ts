/**
 * The state directory as content: a hash over (relative path, type, mode, bytes) of the
 * whole tree, and a deterministic state.tar.gz of it. Symlinks that leave the directory and
 * special files are not part of the state (reported once through onSkip).
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { collectTree, writeTarGz, type TreeEntry } from '../archive/pack.js';
import type { PackageLimits } from '../archive/types.js';

export const STATE_JSON = 'state.json';

export interface SnapshotOptions {
  readonly limits: PackageLimits;
  readonly onSkip?: (rel: string, reason: string) => void;
}

/** The bot changed the tree while it was being read; try again shortly. */
export class StateChangedDuringSnapshot extends Error {}

/** `state.json` at the root does not parse: such a state is never uploaded. */
export class InvalidStateJson extends Error {}

function hashEntryHeader(hash: Hash, entry: TreeEntry): void {
  const mode = entry.type === 'file' ? (entry.executable ? '755' : '644') : entry.type === 'dir' ? '755' : '777';
  hash.update(`${entry.type}\0${entry.path}\0${mode}\0${entry.target ?? ''}\0`);
}

async function collect(stateDir: string, options: SnapshotOptions): Promise<TreeEntry[]> {
  return collectTree(stateDir, { problems: 'skip', limits: options.limits, ...(options.onSkip ? { onSkip: options.onSkip } : {}) });
}

/** Pass 1: the content hash only, streaming each file. */
export async function hashState(stateDir: string, options: SnapshotOptions): Promise<string> {
  const hash = createHash('sha256');
  const entries = await collect(stateDir, options);
  for (const entry of entries) hashEntryHeader(hash, entry);
  for (const entry of entries) {
    if (entry.type !== 'file') continue;
    try {
      for await (const chunk of createReadStream(path.join(stateDir, entry.path))) hash.update(chunk as Buffer);
    } catch (err) {
      throw vanished(err, entry);
    }
    hash.update('\0');
  }
  return hash.digest('hex');
}

/**
 * Pass 2: packs the tree into `outFile`, hashing exactly the bytes that go into it (one
 * file in memory at a time) and checking `state.json` on those bytes. Returns the content
 * hash of what was packed, comparable with hashState's.
 */
export async function packState(stateDir: string, outFile: string, options: SnapshotOptions): Promise<{ hash: string; size: number }> {
  const hash = createHash('sha256');
  const entries = await collect(stateDir, options);
  for (const entry of entries) hashEntryHeader(hash, entry);
  const { size } = await writeTarGz(outFile, entries, async (entry) => {
    let bytes: Buffer;
    try {
      bytes = await readFile(path.join(stateDir, entry.path));
    } catch (err) {
      throw vanished(err, entry);
    }
    if (entry.path === STATE_JSON) checkStateJson(bytes);
    hash.update(bytes);
    hash.update('\0');
    return bytes;
  });
  return { hash: hash.digest('hex'), size };
}

function vanished(err: unknown, entry: TreeEntry): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'EISDIR') return new StateChangedDuringSnapshot(`${entry.path} changed while it was read`);
  return err;
}

function checkStateJson(bytes: Buffer): void {
  try {
    JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new InvalidStateJson(`${STATE_JSON} is not valid JSON (${(err as Error).message})`);
  }
}
