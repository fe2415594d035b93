/**
 * The last lines of a rotated log, reading backwards from the end so a 10 MB log costs no
 * more than the lines asked for.
 */
import { open } from 'node:fs/promises';
import { logFilesOldestFirst } from './rotating-log.js';

const CHUNK = 64 * 1024;

export async function tailLines(file: string, maxFiles: number, lines: number): Promise<string[]> {
  if (lines <= 0) return [];
  let collected: string[] = [];
  for (const candidate of logFilesOldestFirst(file, maxFiles).reverse()) {
    const needed = lines - collected.length;
    collected = [...(await lastLinesOfFile(candidate, needed)), ...collected];
    if (collected.length >= lines) break;
  }
  return collected.slice(-lines);
}

async function lastLinesOfFile(file: string, lines: number): Promise<string[]> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  try {
    const { size } = await handle.stat();
    let position = size;
    let buffered = Buffer.alloc(0);
    // One more newline than lines wanted, so the first kept line is complete.
    while (position > 0 && countNewlines(buffered) <= lines) {
      const length = Math.min(CHUNK, position);
      position -= length;
      const chunk = Buffer.alloc(length);
      await handle.read(chunk, 0, length, position);
      buffered = Buffer.concat([chunk, buffered]);
    }
    const text = buffered.toString('utf8');
    const all = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
    if (position > 0) all.shift();
    return text === '' ? [] : all.slice(-lines);
  } finally {
    await handle.close();
  }
}

function countNewlines(buffer: Buffer): number {
  let count = 0;
  for (let i = buffer.indexOf(10); i !== -1; i = buffer.indexOf(10, i + 1)) count++;
  return count;
}
