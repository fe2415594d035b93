/**
 * Crash-loop detection and back-off for live bots (DESIGN §7). Pure: every function takes
 * the time it should decide at, so tests drive time instead of sleeping.
 *
 * Docker restarts a crashed live container by itself (restart policy `always`), with its
 * own short back-off. Berth steps in only when the restarts come faster than a threshold:
 * it removes the container, marks the bot `crash-looping`, and starts it again after a
 * capped exponential back-off that resets once the bot has stayed up for a while.
 */
import type { ActualContainer } from '../ports/runtime.js';
import type { BotStatus } from '../domain/status.js';
import { INIT_EXIT } from '../domain/daemon-contract.js';

export interface CrashLoopPolicy {
  /** This many restarts within `windowMs` is a crash loop. */
  readonly restartThreshold: number;
  readonly windowMs: number;
  /** First back-off; each further consecutive crash loop multiplies it, up to the cap. */
  readonly initialBackoffMs: number;
  readonly backoffMultiplier: number;
  readonly maxBackoffMs: number;
  /** A container that has been up this long without a restart resets the back-off. */
  readonly resetAfterMs: number;
  /**
   * An `exited` live container is acted on only this long after it exited: the runtime
   * may still be about to restart it (the process runtime reports the gap as `exited`).
   */
  readonly exitedGraceMs: number;
  /**
   * A container still `created` after this long is stuck (its start failed half-way);
   * younger ones may be another process's start in progress.
   */
  readonly createdGraceMs: number;
}

export const DEFAULT_CRASH_LOOP_POLICY: CrashLoopPolicy = {
  restartThreshold: 3,
  windowMs: 60_000,
  initialBackoffMs: 10_000,
  backoffMultiplier: 2,
  maxBackoffMs: 5 * 60_000,
  resetAfterMs: 2 * 60_000,
  exitedGraceMs: 5_000,
  createdGraceMs: 30_000,
};

export function crashLoopPolicy(overrides: Partial<CrashLoopPolicy> = {}): CrashLoopPolicy {
  const policy = { ...DEFAULT_CRASH_LOOP_POLICY, ...overrides };
  if (policy.restartThreshold < 1) throw new RangeError('restartThreshold must be at least 1');
  if (policy.initialBackoffMs <= 0 || policy.maxBackoffMs < policy.initialBackoffMs) {
    throw new RangeError('back-off must satisfy 0 < initialBackoffMs <= maxBackoffMs');
  }
  if (policy.windowMs <= 0) throw new RangeError('windowMs must be positive');
  if (policy.backoffMultiplier < 1) throw new RangeError('backoffMultiplier must be at least 1');
  return policy;
}

/** Delay before the start that follows the `backoffCount`-th consecutive crash loop (1-based). */
export function backoffDelayMs(backoffCount: number, policy: CrashLoopPolicy): number {
  const exponent = Math.max(0, backoffCount - 1);
  const delay = policy.initialBackoffMs * Math.pow(policy.backoffMultiplier, exponent);
  return Math.min(delay, policy.maxBackoffMs);
}

/**
 * What Berth has seen of one container's restart count over time. Each sample is a count
 * together with the span of time it was observed unchanged, which is what lets us say
 * "at least N restarts happened within the window" without seeing every restart.
 */
export interface RestartHistory {
  readonly containerId: string;
  readonly samples: readonly RestartSample[];
}

export interface RestartSample {
  readonly count: number;
  /** Epoch ms of the first and last observation of this count. */
  readonly firstSeen: number;
  readonly lastSeen: number;
}

const MAX_SAMPLES = 64;

/** Adds one observation of a container's restart count. */
export function recordRestarts(
  previous: RestartHistory | undefined,
  container: Pick<ActualContainer, 'id' | 'restartCount'>,
  now: Date,
  policy: CrashLoopPolicy,
): RestartHistory {
  const at = now.getTime();
  const fresh: RestartSample = { count: container.restartCount, firstSeen: at, lastSeen: at };
  if (!previous || previous.containerId !== container.id) return { containerId: container.id, samples: [fresh] };
  const last = previous.samples[previous.samples.length - 1];
  let samples: RestartSample[];
  if (!last || container.restartCount < last.count) {
    samples = [fresh]; // counts never go down for one container; start over rather than guess
  } else if (container.restartCount === last.count) {
    samples = [...previous.samples.slice(0, -1), { ...last, lastSeen: at }];
  } else {
    samples = [...previous.samples, fresh];
  }
  const windowStart = at - policy.windowMs;
  // Samples last seen before the window say nothing about restarts inside it.
  let first = 0;
  while (first < samples.length - 1 && samples[first]!.lastSeen < windowStart) first++;
  first = Math.max(first, samples.length - MAX_SAMPLES);
  return { containerId: container.id, samples: first === 0 ? samples : samples.slice(first) };
}

/**
 * The number of restarts certain to have happened within the window ending `now`:
 * restarts seen since the earliest observation inside the window and, for a container
 * created inside the window, every restart it ever had.
 */
export function restartsInWindow(
  container: Pick<ActualContainer, 'id' | 'restartCount' | 'createdAt'>,
  history: RestartHistory | undefined,
  now: Date,
  policy: CrashLoopPolicy,
): number {
  const windowStart = now.getTime() - policy.windowMs;
  let counted = 0;
  if (history && history.containerId === container.id) {
    const inside = history.samples.find((s) => s.lastSeen >= windowStart);
    if (inside) counted = Math.max(0, container.restartCount - inside.count);
  }
  const created = container.createdAt ? Date.parse(container.createdAt) : NaN;
  if (!Number.isNaN(created) && created >= windowStart) counted = Math.max(counted, container.restartCount);
  return counted;
}

/** Exit codes of a deliberate stop: 0, or 143 (SIGTERM) from `docker stop`. */
export function isCleanExit(exitCode: number | undefined): boolean {
  return exitCode === 0 || exitCode === 143;
}

/** Why a container counts as crash-looping, or undefined when it does not. */
export function crashLoopReason(
  container: ActualContainer,
  history: RestartHistory | undefined,
  now: Date,
  policy: CrashLoopPolicy,
): string | undefined {
  if (container.state === 'exited') {
    if (isCleanExit(container.exitCode)) return undefined;
    return `exited with ${describeExit(container.exitCode)} and was not restarted`;
  }
  // Restarts within the window never exceed all restarts: the common healthy case is cheap.
  if (container.restartCount < policy.restartThreshold) return undefined;
  const restarts = restartsInWindow(container, history, now, policy);
  if (restarts >= policy.restartThreshold) {
    const exit = container.exitCode === undefined ? '' : `; last ${describeExit(container.exitCode)}`;
    return `restarted ${restarts} times within ${Math.round(policy.windowMs / 1000)} s${exit}`;
  }
  return undefined;
}

const EXIT_MEANINGS: Readonly<Record<number, string>> = {
  [INIT_EXIT.objectStoreUnavailable]: 'init could not reach the object store',
  [INIT_EXIT.codeMissing]: 'the code package is missing from the object store',
  [INIT_EXIT.codeCorrupt]: 'the code package does not match its sha256',
  [INIT_EXIT.packageRejected]: 'the code package was rejected at extraction',
  [INIT_EXIT.badSettings]: "the daemon's settings are invalid",
  137: 'SIGKILL, often out of memory',
};

/** `exit code 70 (init could not reach the object store)`: what people read in the status. */
export function describeExit(exitCode: number | undefined): string {
  if (exitCode === undefined) return 'an unknown exit code';
  const meaning = EXIT_MEANINGS[exitCode];
  return meaning ? `exit code ${exitCode} (${meaning})` : `exit code ${exitCode}`;
}

/** True while a crash-loop back-off for this spec forbids starting the bot. */
export function inBackoff(status: BotStatus | undefined, specHash: string, now: Date): boolean {
  if (!status?.backoffUntil) return false;
  // A new spec (new code or config) may well fix the crash: it is not held back.
  if (status.specHash !== undefined && status.specHash !== specHash) return false;
  return Date.parse(status.backoffUntil) > now.getTime();
}

/** The back-off count the next crash loop of this spec gets (consecutive loops escalate). */
export function nextBackoffCount(status: BotStatus | undefined, specHash: string): number {
  if (!status || (status.specHash !== undefined && status.specHash !== specHash)) return 1;
  return (status.backoffCount ?? 0) + 1;
}

/** A running container that has stayed up long enough clears the back-off. */
export function hasStayedUp(container: ActualContainer, now: Date, policy: CrashLoopPolicy): boolean {
  if (container.state !== 'running') return false;
  const since = container.startedAt ?? container.createdAt;
  if (!since) return false;
  const started = Date.parse(since);
  return !Number.isNaN(started) && now.getTime() - started >= policy.resetAfterMs;
}
