/**
 * In-process event bus (the embedded default, DESIGN §2, §9). Behaves like the NATS one as
 * far as a subscriber can tell: wildcard subjects, payloads copied through JSON, delivery
 * later than `publish` (a publisher is never re-entered by its own subscribers), and one
 * failing handler never affects another.
 */
import { UnavailableError, ValidationError, errorMessage } from '../../../domain/errors.js';
import type { EventBus, EventBusHealth, EventHandler, EventSubscription } from '../../../ports/events.js';
import { assertPublishSubject, assertSubscribePattern, subjectMatches } from '../subjects.js';

export interface MemoryEventBusOptions {
  /** Told about handlers that threw; defaults to one line on stderr. */
  readonly onHandlerError?: (err: unknown, subject: string) => void;
}

interface Subscriber {
  readonly pattern: string;
  readonly handler: EventHandler;
  active: boolean;
}

const NO_SUBSCRIPTION: EventSubscription = { unsubscribe: () => undefined };

export class MemoryEventBus implements EventBus {
  private readonly subscribers = new Set<Subscriber>();
  private readonly onHandlerError: (err: unknown, subject: string) => void;
  private closed = false;
  private readonly since = new Date().toISOString();

  constructor(options: MemoryEventBusOptions = {}) {
    this.onHandlerError =
      options.onHandlerError ??
      ((err, subject) => process.stderr.write(`berth: event handler for ${subject} failed: ${errorMessage(err)}\n`));
  }

  /** Nothing to connect to. */
  async init(): Promise<void> {
    this.assertOpen();
  }

  health(): EventBusHealth {
    return this.closed ? { ok: false, detail: 'the in-process bus is closed', since: this.since } : { ok: true, since: this.since };
  }

  async publish(subject: string, payload: unknown, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    this.assertOpen();
    assertPublishSubject(subject);
    const encoded = encode(payload);
    const targets = [...this.subscribers].filter((s) => subjectMatches(s.pattern, subject));
    if (targets.length === 0) return;
    // setImmediate keeps publish order and runs after the publisher's current turn.
    setImmediate(() => {
      for (const target of targets) this.deliver(target, subject, encoded);
    });
  }

  subscribe(subject: string, handler: EventHandler): EventSubscription {
    this.assertOpen();
    assertSubscribePattern(subject);
    const subscriber: Subscriber = { pattern: subject, handler, active: true };
    this.subscribers.add(subscriber);
    return {
      unsubscribe: () => {
        subscriber.active = false;
        this.subscribers.delete(subscriber);
      },
    };
  }

  /** There is no connection to lose, so there is never a reconnect to report. */
  onReconnect(_handler: () => void): EventSubscription {
    return NO_SUBSCRIPTION;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.subscribers) s.active = false;
    this.subscribers.clear();
  }

  private deliver(target: Subscriber, subject: string, encoded: string | undefined): void {
    if (!target.active || this.closed) return;
    try {
      const result: unknown = target.handler(subject, encoded === undefined ? undefined : JSON.parse(encoded));
      if (result instanceof Promise) result.catch((err: unknown) => this.reportHandlerError(err, subject));
    } catch (err) {
      this.reportHandlerError(err, subject);
    }
  }

  private reportHandlerError(err: unknown, subject: string): void {
    try {
      this.onHandlerError(err, subject);
    } catch {
      // The error reporter itself must not break delivery to the others.
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new UnavailableError('events', 'the in-process bus is closed');
  }
}

/** Payloads travel as JSON on NATS; copying through JSON here gives subscribers the same values. */
function encode(payload: unknown): string | undefined {
  if (payload === undefined) return undefined;
  try {
    return JSON.stringify(payload);
  } catch (err) {
    throw new ValidationError([{ field: 'payload', message: `must be JSON-serialisable: ${errorMessage(err)}` }], { cause: err });
  }
}
