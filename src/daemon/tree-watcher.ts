/**
 * Watches a directory tree with one fs.watch per directory (inotify watches directories
 * well; a watch on a file goes deaf after the first write-temp-then-rename). Directories
 * that appear are armed as soon as an event reports them; vanished ones are dropped.
 * Events are only a hint: the caller re-reads the whole tree, and polls as a safety net.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';

/** Beyond this many directories the rest is left to the poll (inotify watches are limited). */
const MAX_WATCHED_DIRS = 4096;

export class TreeWatcher {
  private readonly watchers = new Map<string, FSWatcher>();
  private rescanQueued = false;
  private rescanning: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly root: string,
    private readonly onChange: () => void,
  ) {}

  async start(): Promise<void> {
    await this.rescan();
  }

  get watchedDirectories(): number {
    return this.watchers.size;
  }

  /** Arms new directories and drops vanished ones. Single-flight, coalesced. */
  rescan(): Promise<void> {
    if (this.rescanning) {
      this.rescanQueued = true;
      return this.rescanning;
    }
    this.rescanning = this.doRescan().finally(() => {
      this.rescanning = undefined;
      if (this.rescanQueued && !this.closed) {
        this.rescanQueued = false;
        void this.rescan();
      }
    });
    return this.rescanning;
  }

  close(): void {
    this.closed = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  private async doRescan(): Promise<void> {
    const found = await this.listDirectories();
    if (this.closed) return;
    for (const [dir, w] of this.watchers) {
      if (!found.has(dir)) {
        w.close();
        this.watchers.delete(dir);
      }
    }
    let armedNew = false;
    for (const dir of found) {
      if (this.watchers.has(dir) || this.watchers.size >= MAX_WATCHED_DIRS) continue;
      try {
        const w = watch(dir, { persistent: false }, (event) => this.changed(event === 'rename'));
        w.on('error', () => {
          w.close();
          this.watchers.delete(dir);
          this.changed(true);
        });
        this.watchers.set(dir, w);
        if (dir !== this.root) armedNew = true;
      } catch {
        // Gone already, or not readable: the poll still covers it.
      }
    }
    // Whatever was written into a new directory before its watch existed is caught by this.
    if (armedNew) this.onChange();
  }

  /** `structural`: something was created, removed or renamed (a new directory, maybe). */
  private changed(structural: boolean): void {
    if (this.closed) return;
    this.onChange();
    if (structural) void this.rescan();
  }

  private async listDirectories(): Promise<Set<string>> {
    const out = new Set<string>();
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      out.add(dir);
      for (const e of entries) if (e.isDirectory()) await walk(path.join(dir, e.name));
    };
    await walk(this.root);
    return out;
  }
}
