/**
 * Event bus port (DESIGN §2, §9). Adapters: in-process (embedded default), NATS.
 * Subjects use NATS wildcards: `*` matches one token, `>` the rest.
 */
export interface EventSubscription {
  /** Idempotent. */
  unsubscribe(): void;
}

export type EventHandler = (subject: string, payload: unknown) => void;

export interface EventBusHealth {
  readonly ok: boolean;
  readonly detail?: string;
  /** Since when `ok` has had this value (ISO time). */
  readonly since: string;
}

export interface EventBus {
  /**
   * Waits a bounded time for the bus to be usable. A shared bus that does not answer yet
   * rejects with UnavailableError but keeps trying in the background: services still work
   * without it, converging at their timer.
   */
  init(signal?: AbortSignal): Promise<void>;
  /** Whether the bus is connected now (the in-process one always is until closed). */
  health(): EventBusHealth;
  publish(subject: string, payload: unknown, signal?: AbortSignal): Promise<void>;
  subscribe(subject: string, handler: EventHandler): EventSubscription;
  /**
   * Called after the bus reconnects (events may have been missed meanwhile), so that
   * services can run one full reconcile. The in-process bus never calls it.
   */
  onReconnect(handler: () => void): EventSubscription;
  close(): Promise<void>;
}
