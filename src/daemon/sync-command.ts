/**
 * `berth-daemon sync`: the seed's standalone sync, for a sidecar setup where something else
 * runs the bot and writes its output to `<workDir>/logs/bot.log`. Watches the state, tails
 * the log file, and does the final sync when the done file appears or on SIGTERM.
 */
import { open, stat } from 'node:fs/promises';
import type { ObjectStore } from '../ports/objects.js';
import type { BerthLog } from './berth-log.js';
import { LineSplitter } from './line-splitter.js';
import type { DaemonSettings } from './settings.js';
import { startSyncParts } from './sync-parts.js';
import { botLogFile, doneFile } from './work-paths.js';

const DONE_POLL_MS = 250;

/** Follows a growing file by offset; starts over when it shrinks or is replaced (rotation). */
class FileTail {
  private offset = 0;
  private ino = -1;
  constructor(
    private readonly file: string,
    private readonly onChunk: (chunk: Buffer) => void,
  ) {}

  private chain: Promise<void> = Promise.resolve();

  /** Serialised: a timer poll and the final poll must never read the same bytes twice. */
  poll(): Promise<void> {
    this.chain = this.chain.then(() => this.readNew()).catch(() => undefined);
    return this.chain;
  }

  private async readNew(): Promise<void> {
    let info;
    try {
      info = await stat(this.file);
    } catch {
      return;
    }
    if (info.ino !== this.ino || info.size < this.offset) {
      this.ino = info.ino;
      this.offset = 0;
    }
    if (info.size === this.offset) return;
    const handle = await open(this.file, 'r');
    try {
      const buf = Buffer.alloc(64 * 1024);
      for (;;) {
        const { bytesRead } = await handle.read(buf, 0, buf.length, this.offset);
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        this.onChunk(Buffer.from(buf.subarray(0, bytesRead)));
      }
    } finally {
      await handle.close();
    }
  }
}

export async function runSyncOnly(s: DaemonSettings, store: ObjectStore, log: BerthLog): Promise<number> {
  const parts = await startSyncParts(s, store, log);
  const lines = new LineSplitter((line) => parts.shipper.push('out', line));
  const tail = new FileTail(botLogFile(s.workDir), (chunk) => lines.write(chunk));

  const reason = await new Promise<string>((resolve) => {
    const timer = setInterval(() => {
      void tail.poll();
      void stat(doneFile(s.workDir)).then(
        () => (clearInterval(timer), resolve('the done file appeared')),
        () => undefined,
      );
    }, DONE_POLL_MS);
    const onSignal = (signal: NodeJS.Signals): void => {
      clearInterval(timer);
      resolve(`${signal} received`);
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    log.say(`sync: watching ${s.stateDir} and ${botLogFile(s.workDir)} until ${doneFile(s.workDir)} appears`);
  });
  log.say(`sync: ${reason}, final sync`);
  await tail.poll();
  lines.end();
  await parts.finish(Date.now() + Math.max(10_000, s.graceSeconds * 1000));
  return 0;
}
