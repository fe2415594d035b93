/**
 * Time as the core sees it. Injected everywhere so that tests drive time instead of
 * sleeping, and so that every decision about "now" is made from one source.
 */

/** Cancels a scheduled callback. Idempotent. */
export type Cancel = () => void;

export interface Clock {
  now(): Date;
  /** Runs `fn` once after `ms` milliseconds unless cancelled first. */
  setTimeout(fn: () => void, ms: number): Cancel;
}

export const realClock: Clock = {
  now: () => new Date(),
  setTimeout(fn, ms) {
    const timer = setTimeout(fn, Math.max(0, ms));
    return () => clearTimeout(timer);
  },
};
