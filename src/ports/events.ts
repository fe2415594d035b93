/**
 * Event bus port (DESIGN §2, §9). Adapters: in-process (embedded default), NATS.
 * Subjects use NATS wildcards: `*` matches one token, `>` the rest.
 */
export interface EventSubscription {
  /** Idempotent. */
  unsubscribe(): void;
}

export type EventHandler = (subject: string, payload: unknown) => void;

export interface EventBus {
  publish(subject: string, payload: unknown, signal?: AbortSignal): Promise<void>;
  subscribe(subject: string, handler: EventHandler): EventSubscription;
  /**
   * Called after the bus reconnects (events may have been missed meanwhile), so that
   * services can run one full reconcile. The in-process bus never calls it.
   */
  onReconnect(handler: () => void): EventSubscription;
  close(): Promise<void>;
}
