/**
 * Process identity and signalling for the process runtime. A pid alone is not an identity:
 * after a reboot (or a long uptime) the number is reused by an unrelated process, and
 * signalling that one would be a serious bug. So every pid we record comes with an
 * identity — the boot id plus the process's start time from /proc — and we only signal
 * a pid whose identity still matches. Where /proc does not exist (macOS), the identity is
 * undefined and we fall back to `kill(pid, 0)`: acceptable for a development fallback.
 *
 * Only Node built-ins: this module is loaded by every shim.
 */
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';

let cachedBootId: string | null | undefined;

function bootId(): string | null {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      cachedBootId = null;
    }
  }
  return cachedBootId;
}

interface ProcStat {
  /** One letter: R, S, D, Z (zombie), X (dead)… */
  readonly state: string;
  /** Clock ticks since boot; unique per pid together with the boot id. */
  readonly startTime: string;
}

function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself hold spaces or ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const startTime = fields[19];
  if (state === undefined || startTime === undefined) return undefined;
  return { state, startTime };
}

/** `<boot id>/<start time>` of a live process, or undefined where /proc is not available. */
export function processIdentity(pid: number): string | undefined {
  const boot = bootId();
  const stat = readProcStat(pid);
  if (boot === null || stat === undefined) return undefined;
  return `${boot}/${stat.startTime}`;
}

/**
 * True when `pid` is alive and is still the process recorded with `identity`. Zombies count
 * as gone: they have exited and only wait for their parent to reap them.
 */
export function isSameProcessAlive(pid: number | undefined, identity: string | undefined): boolean {
  if (pid === undefined || !Number.isInteger(pid) || pid <= 1) return false;
  if (!pidExists(pid)) return false;
  const stat = readProcStat(pid);
  if (stat === undefined) {
    // No /proc: trust kill(pid, 0) — unless an identity was recorded on a system that had one.
    return identity === undefined || bootId() === null;
  }
  if (stat.state === 'Z' || stat.state === 'X') return false;
  if (identity === undefined) return true;
  return identity === `${bootId()}/${stat.startTime}`;
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Sends a signal to one process; false when it is already gone. */
export function signalProcess(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Sends a signal to a whole process group (the container's processes); false when it is empty. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  if (!Number.isInteger(pgid) || pgid <= 1) return false;
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** True while any process is left in the group. */
export function groupExists(pgid: number): boolean {
  return signalGroup(pgid, 0);
}

/** The shell's convention for a process ended by a signal: 128 + signal number. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const number = signal === null ? undefined : osConstants.signals[signal];
  return number === undefined ? 255 : 128 + number;
}
