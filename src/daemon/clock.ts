/** Time as the daemon's timing logic sees it, injected so tests never wait for real. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** No single object-store call may hang the daemon: each gets this long at most. */
export const STORE_CALL_TIMEOUT_MS = 30_000;

/** An AbortSignal for one store call, ending at the deadline (epoch ms) if that comes first. */
export function storeCallSignal(deadlineMs?: number): AbortSignal {
  const left = deadlineMs === undefined ? STORE_CALL_TIMEOUT_MS : Math.min(STORE_CALL_TIMEOUT_MS, Math.max(1, deadlineMs - Date.now()));
  return AbortSignal.timeout(left);
}
