/**
 * Receives a request body into a private temporary file, counting bytes as they arrive,
 * so a package is never held in memory and an oversized one is refused as soon as it
 * crosses the limit.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HttpStatusError } from './http-errors.js';

export interface ReceivedFile {
  readonly file: string;
  readonly size: number;
  /** Removes the file and its directory. Idempotent. */
  cleanup(): Promise<void>;
}

const UPLOAD_DIR_PREFIX = 'berth-upload-';

/**
 * Removes upload directories left by a process that died mid-upload. Only ones older than
 * `olderThanMs`, so a concurrent upload of another process sharing the directory is safe.
 */
export async function sweepStaleUploads(dir: string, olderThanMs: number, now = Date.now()): Promise<number> {
  let removed = 0;
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(UPLOAD_DIR_PREFIX)) continue;
    const full = path.join(dir, name);
    const info = await stat(full).catch(() => null);
    if (!info?.isDirectory() || now - info.mtimeMs < olderThanMs) continue;
    await rm(full, { recursive: true, force: true });
    removed++;
  }
  return removed;
}

export function tooLarge(limit: number): HttpStatusError {
  return new HttpStatusError(413, 'body-too-large', `package is larger than the ${limit}-byte upload limit`);
}

/**
 * The request stream is never destroyed here (that would close the socket before the
 * 413 is sent); it is only unpiped, and the route answers with `Connection: close`.
 */
export async function receiveToTempFile(body: Readable, limit: number, dir = tmpdir()): Promise<ReceivedFile> {
  const workDir = await mkdtemp(path.join(dir, UPLOAD_DIR_PREFIX));
  const file = path.join(workDir, 'package');
  const cleanup = () => rm(workDir, { recursive: true, force: true });
  let size = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      callback(size > limit ? tooLarge(limit) : null, chunk);
    },
  });
  const onAbort = () => counter.destroy(new HttpStatusError(400, 'aborted', 'the upload was interrupted'));
  const onClose = () => {
    if (!(body as { complete?: boolean }).complete && body.readableEnded !== true) onAbort();
  };
  body.once('error', onAbort);
  body.once('aborted', onAbort);
  body.once('close', onClose);
  body.pipe(counter);
  try {
    await pipeline(counter, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
    return { file, size, cleanup };
  } catch (err) {
    body.unpipe(counter);
    await cleanup();
    throw err;
  } finally {
    body.off('error', onAbort);
    body.off('aborted', onAbort);
    body.off('close', onClose);
  }
}
