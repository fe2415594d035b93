/**
 * `<workDir>/logs/bot.log`: the bot's raw output, appended synchronously (local disk, keeps
 * the order of stdout and stderr), rotated once to bot.log.1 past a size cap so that a
 * chatty bot cannot fill the disk.
 */
import { closeSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';

const ROTATE_BYTES = 8 * 1024 * 1024;

export class BotLogFile {
  private fd: number | undefined;
  private size = 0;

  constructor(private readonly file: string) {
    mkdirSync(path.dirname(file), { recursive: true });
    this.open();
  }

  write(chunk: Buffer): void {
    if (this.fd === undefined) return;
    try {
      writeSync(this.fd, chunk);
      this.size += chunk.length;
      if (this.size > ROTATE_BYTES) this.rotate();
    } catch {
      // A full or vanished disk must not stop the bot; the object store still gets the lines.
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private open(): void {
    this.fd = openSync(this.file, 'a', 0o644);
    this.size = 0;
  }

  private rotate(): void {
    this.close();
    renameSync(this.file, `${this.file}.1`);
    this.open();
  }
}
