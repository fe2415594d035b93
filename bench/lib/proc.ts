/** Process memory from /proc (Linux): RSS of a host process, anonymous memory of a container's daemon. */
import { readdir, readFile } from 'node:fs/promises';

async function statusField(pid: number, field: string): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** Resident set size in bytes. */
export function rssBytes(pid: number): Promise<number> {
  return statusField(pid, 'VmRSS');
}

/** Peak resident set size in bytes. */
export function peakRssBytes(pid: number): Promise<number> {
  return statusField(pid, 'VmHWM');
}

/** Anonymous memory this process alone has written: Private_Dirty of smaps_rollup, in bytes. */
export async function privateDirtyBytes(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  const match = /^Private_Dirty:\s+(\d+) kB/m.exec(text);
  if (!match) throw new Error(`no Private_Dirty in /proc/${pid}/smaps_rollup`);
  return Number(match[1]) * 1024;
}

export interface ProcEntry {
  readonly pid: number;
  readonly ppid: number;
  readonly cmdline: string;
}

/** Every process on the host with its parent (one scan of /proc: the per-task "children" files are not always there). */
export async function processTable(): Promise<ProcEntry[]> {
  const entries: ProcEntry[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      // The command name may contain spaces and parentheses: fields resume after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmdline = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0').join(' ').trim();
      entries.push({ pid: Number(name), ppid: Number(fields[1]), cmdline });
    } catch {
      // the process exited during the scan
    }
  }
  return entries;
}

/** The first descendant of `root` whose command line matches. */
export function findDescendant(table: readonly ProcEntry[], root: number, matches: (cmdline: string) => boolean): ProcEntry | undefined {
  const children = new Map<number, ProcEntry[]>();
  for (const entry of table) {
    const list = children.get(entry.ppid);
    if (list) list.push(entry);
    else children.set(entry.ppid, [entry]);
  }
  const queue = [...(children.get(root) ?? [])];
  while (queue.length > 0) {
    const entry = queue.shift()!;
    if (matches(entry.cmdline)) return entry;
    queue.push(...(children.get(entry.pid) ?? []));
  }
  return undefined;
}
