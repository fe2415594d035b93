/**
 * Trailing debounce with a maximum wait: fires `quietMs` after the last touch, but never
 * later than `maxWaitMs` after the first touch of a burst, so a bot that writes without
 * pause is still saved. (The seed's leading-edge version dropped a burst's last write.)
 */
import type { Clock } from './clock.js';

export class TrailingDebounce {
  private firstTouchAt: number | undefined;
  private timer: unknown;
  private dueAt: number | undefined;

  constructor(
    private readonly quietMs: number,
    private readonly maxWaitMs: number,
    private readonly clock: Clock,
    private readonly fire: () => void,
  ) {}

  touch(): void {
    const now = this.clock.now();
    this.firstTouchAt ??= now;
    const due = Math.min(now + this.quietMs, this.firstTouchAt + Math.max(this.maxWaitMs, this.quietMs));
    this.arm(due);
  }

  /** Fires at once (no quiet period). */
  fireNow(): void {
    this.arm(this.clock.now());
  }

  get pending(): boolean {
    return this.dueAt !== undefined;
  }

  cancel(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.dueAt = undefined;
    this.firstTouchAt = undefined;
  }

  private arm(due: number): void {
    if (this.dueAt === due) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.dueAt = due;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.dueAt = undefined;
      this.firstTouchAt = undefined;
      this.fire();
    }, Math.max(0, due - this.clock.now()));
  }
}
