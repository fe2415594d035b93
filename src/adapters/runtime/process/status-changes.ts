/**
 * Noticing status changes. Every status write renames a temp file out of the instance
 * directory, so one non-recursive fs.watch on it hears about every container; a slow poll
 * backs it up (fs.watch can miss events, and some filesystems have none).
 */
import { watch, type FSWatcher } from 'node:fs';
import { containerNameOfEntry } from './layout.js';

/**
 * Calls `onChange(name)` when container `name` may have changed and `onChange(undefined)` on
 * every poll tick. Returns a stop function (idempotent).
 */
export function watchInstanceDir(
  instanceDir: string,
  pollMs: number,
  onChange: (name: string | undefined) => void,
  { keepAlive = false }: { keepAlive?: boolean } = {},
): () => void {
  let watcher: FSWatcher | undefined;
  let stopped = false;
  const ensureWatcher = (): void => {
    if (watcher !== undefined || stopped) return;
    try {
      watcher = watch(instanceDir, { persistent: false }, (_event, filename) => {
        const name = filename === null ? undefined : containerNameOfEntry(filename.toString());
        if (name !== undefined) onChange(name);
      });
      watcher.on('error', () => {
        watcher?.close();
        watcher = undefined;
      });
    } catch {
      watcher = undefined; // the directory does not exist yet; the poll retries
    }
  };
  ensureWatcher();
  const poll = setInterval(() => {
    ensureWatcher();
    onChange(undefined);
  }, pollMs);
  // A long-lived event stream must not keep a process alive; a pending wait must.
  if (!keepAlive) poll.unref();
  return () => {
    stopped = true;
    clearInterval(poll);
    watcher?.close();
    watcher = undefined;
  };
}

/**
 * Resolves with the first non-undefined value of `check`, re-evaluated whenever the
 * container's status may have changed. Rejects on abort, and on timeout (with
 * `onTimeout()`'s error) when `timeoutMs` is given.
 */
export function untilStatus<T>(
  instanceDir: string,
  name: string,
  check: () => T | undefined,
  options: { timeoutMs?: number; pollMs?: number; signal?: AbortSignal; onTimeout?: () => Error },
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      stop();
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const evaluate = (): void => {
      try {
        const value = check();
        if (value !== undefined) finish(() => resolve(value));
      } catch (err) {
        finish(() => reject(err));
      }
    };
    const onAbort = (): void => finish(() => reject(options.signal?.reason));
    const stop = watchInstanceDir(
      instanceDir,
      options.pollMs ?? 200,
      (changed) => {
        if (changed === undefined || changed === name) evaluate();
      },
      { keepAlive: true },
    );
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => finish(() => reject(options.onTimeout?.() ?? new Error('timed out'))), options.timeoutMs);
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    evaluate();
  });
}
