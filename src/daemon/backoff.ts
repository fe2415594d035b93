/** Capped exponential back-off for retries against the object store. */
export interface Backoff {
  /** The delay before the next attempt; grows with each call. */
  next(): number;
  reset(): void;
}

export function cappedBackoff(firstMs = 500, capMs = 30_000): Backoff {
  let attempt = 0;
  return {
    next() {
      const delay = Math.min(capMs, firstMs * 2 ** attempt);
      attempt = Math.min(attempt + 1, 30);
      return delay;
    },
    reset() {
      attempt = 0;
    },
  };
}
