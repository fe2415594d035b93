/**
 * The shim's restart back-off, as Docker's restart manager does it: the first restart
 * waits `initialMs`, each further one twice as long up to `maxMs`; a child that ran at
 * least `resetAfterMs` was healthy, so the next crash starts from `initialMs` again.
 * Pure: the shim passes measured run times in.
 */
import type { RestartBackoff } from './layout.js';

export function nextRestartDelay(previousDelayMs: number | undefined, ranMs: number, policy: RestartBackoff): number {
  if (previousDelayMs === undefined || ranMs >= policy.resetAfterMs) return policy.initialMs;
  return Math.min(Math.max(previousDelayMs, policy.initialMs) * 2, policy.maxMs);
}
