/**
 * Lifecycle events of the process runtime, derived from status changes. Comparing times
 * and counters (not just states) keeps the events right when several changes happened
 * between two observations — a crash and its restart within one poll interval still give
 * `die`, `restart`, `start`.
 */
import type { ContainerState, RuntimeEvent, RuntimeEventStream, RuntimeEventType } from '../../../ports/runtime.js';
import { LOST_EXIT_CODE, observe, observeAll, type ObservedContainer } from './containers.js';
import { containerPaths } from './layout.js';
import { watchInstanceDir } from './status-changes.js';

export interface Snapshot {
  readonly id: string;
  readonly botId: string;
  readonly kind: RuntimeEvent['kind'];
  readonly runId?: string;
  readonly state: ContainerState;
  readonly restartCount: number;
  readonly exitCode?: number;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly stopRequested: boolean;
}

export function snapshotOf(container: ObservedContainer): Snapshot {
  const { spec, id } = container.stored;
  const { status } = container;
  return {
    id,
    botId: spec.botId,
    kind: spec.kind,
    ...(spec.runId !== undefined ? { runId: spec.runId } : {}),
    state: container.state,
    restartCount: status.restartCount,
    ...(status.exitCode !== undefined ? { exitCode: status.exitCode } : {}),
    ...(status.startedAt !== undefined ? { startedAt: status.startedAt } : {}),
    ...(status.finishedAt !== undefined ? { finishedAt: status.finishedAt } : {}),
    stopRequested: status.stopRequested === true,
  };
}

/** The events that explain how `prev` became `next` (either may be absent). Pure. */
export function eventsBetween(prev: Snapshot | undefined, next: Snapshot | undefined, now: string): RuntimeEvent[] {
  const subject = next ?? prev;
  if (subject === undefined) return [];
  const event = (type: RuntimeEventType, at: string, exitCode?: number): RuntimeEvent => ({
    type,
    containerId: subject.id,
    botId: subject.botId,
    kind: subject.kind,
    ...(subject.runId !== undefined ? { runId: subject.runId } : {}),
    ...(exitCode !== undefined ? { exitCode } : {}),
    at,
  });
  if (next === undefined) {
    const wasUp = prev !== undefined && (prev.state === 'running' || prev.state === 'restarting');
    return [...(wasUp ? [event('die', now, LOST_EXIT_CODE)] : []), event('destroy', now)];
  }
  if (prev !== undefined && prev.id !== next.id) {
    // Removed and created again under the same name between two observations.
    return [...eventsBetween(prev, undefined, now), ...eventsBetween(undefined, next, now)];
  }

  const started = next.startedAt !== undefined && next.startedAt !== prev?.startedAt;
  const died = next.finishedAt !== undefined && next.finishedAt !== prev?.finishedAt;
  const startEvents = started
    ? [...(prev !== undefined && next.restartCount > prev.restartCount ? [event('restart', next.startedAt!)] : []), event('start', next.startedAt!)]
    : [];
  const dieEvents = died ? [event('die', next.finishedAt!, next.exitCode)] : [];
  const stopped = next.state === 'exited' && next.stopRequested && !(prev?.state === 'exited' && prev.stopRequested);
  const stopEvents = stopped ? [event('stop', next.finishedAt ?? now)] : [];
  const lost = next.state === 'dead' && prev?.state !== 'dead' && !died ? [event('die', now, next.exitCode ?? LOST_EXIT_CODE)] : [];

  // A die that happened before the (re)start comes first; one after it (crashed again) last.
  const dieFirst = died && started && next.finishedAt! <= next.startedAt!;
  return dieFirst ? [...dieEvents, ...startEvents, ...stopEvents, ...lost] : [...startEvents, ...dieEvents, ...stopEvents, ...lost];
}

/**
 * Streams events for one instance directory: a baseline snapshot first (no events for what
 * already exists), then diffs on every status change and on every poll.
 */
export function watchEvents(instanceDir: string, pollMs: number, handler: (event: RuntimeEvent) => void): RuntimeEventStream {
  const known = new Map<string, Snapshot>();
  let stopped = false;
  let ready = false;
  const pendingNames = new Set<string>();
  let fullScanPending = false;

  const emit = (events: RuntimeEvent[]): void => {
    for (const e of events) {
      if (stopped) return;
      try {
        handler(e);
      } catch {
        // A failing handler must not stop the stream; the handler owns its errors.
      }
    }
  };
  const rescan = (name: string): void => {
    const container = observe(containerPaths(instanceDir, name));
    const next = container === undefined ? undefined : snapshotOf(container);
    const prev = known.get(name);
    if (next === undefined) known.delete(name);
    else known.set(name, next);
    emit(eventsBetween(prev, next, new Date().toISOString()));
  };
  const fullScan = async (): Promise<void> => {
    const seen = new Set<string>();
    for (const container of await observeAll(instanceDir)) seen.add(container.paths.name);
    for (const name of new Set([...known.keys(), ...seen])) rescan(name);
  };
  // Coalesces bursts of fs events into one pass on the next tick.
  const flush = (): void => {
    if (stopped || !ready) return;
    const names = [...pendingNames];
    pendingNames.clear();
    const full = fullScanPending;
    fullScanPending = false;
    if (full) void fullScan().catch(() => undefined);
    else for (const name of names) rescan(name);
  };
  let flushScheduled = false;
  const schedule = (name: string | undefined): void => {
    if (name === undefined) fullScanPending = true;
    else pendingNames.add(name);
    if (flushScheduled) return;
    flushScheduled = true;
    setImmediate(() => {
      flushScheduled = false;
      flush();
    });
  };

  const stopWatching = watchInstanceDir(instanceDir, pollMs, schedule);
  void observeAll(instanceDir)
    .then((all) => {
      for (const container of all) known.set(container.paths.name, snapshotOf(container));
    })
    .catch(() => undefined)
    .finally(() => {
      ready = true;
      schedule(undefined);
    });

  return {
    stop(): void {
      if (stopped) return;
      stopped = true;
      stopWatching();
    },
  };
}
