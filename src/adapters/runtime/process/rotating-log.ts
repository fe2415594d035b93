/**
 * The container's combined output, capped like Docker's json-file driver with
 * max-size/max-file: when the current file would pass `maxBytes` it becomes `<file>.1`,
 * the older ones shift up, and the oldest beyond `maxFiles` is dropped. Synchronous writes:
 * the shim has nothing else to do, and ordering between stdout and stderr is kept.
 *
 * Only Node built-ins: this module is loaded by every shim.
 */
import { closeSync, fstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

export class RotatingLog {
  private fd: number | undefined;
  private size = 0;

  constructor(
    private readonly file: string,
    private readonly maxBytes: number,
    private readonly maxFiles: number,
  ) {}

  write(chunk: Buffer | string): void {
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (data.length === 0) return;
    const fd = this.open();
    if (this.size > 0 && this.size + data.length > this.maxBytes) {
      this.rotate();
      this.write(data);
      return;
    }
    writeSync(fd, data);
    this.size += data.length;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private open(): number {
    if (this.fd === undefined) {
      this.fd = openSync(this.file, 'a', 0o600);
      this.size = fstatSync(this.fd).size;
    }
    return this.fd;
  }

  private rotate(): void {
    this.close();
    if (this.maxFiles <= 1) {
      rmSync(this.file, { force: true });
      return;
    }
    rmSync(`${this.file}.${this.maxFiles - 1}`, { force: true });
    for (let n = this.maxFiles - 2; n >= 1; n--) renameIfExists(`${this.file}.${n}`, `${this.file}.${n + 1}`);
    renameIfExists(this.file, `${this.file}.1`);
  }
}

function renameIfExists(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Rotated files of `file`, oldest first, then the current one. */
export function logFilesOldestFirst(file: string, maxFiles: number): string[] {
  const files: string[] = [];
  for (let n = maxFiles - 1; n >= 1; n--) files.push(`${file}.${n}`);
  files.push(file);
  return files;
}
