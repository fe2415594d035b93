/**
 * NATS event bus (DESIGN §2, §9): core NATS publish/subscribe, which is all the events need —
 * the desired state lives in the store and every service reconciles on a timer, so an event
 * only makes a service react sooner; a lost one costs latency, never correctness. Hence no
 * JetStream.
 *
 * Connection: the first connection is retried in the background until it succeeds (services
 * may start before NATS; `init()` waits a bounded time and says so when it does not answer);
 * after that the client reconnects forever and resubscribes by itself. Every (re)connection
 * after the first is reported through `onReconnect`, once the server has the subscriptions
 * again, so that services run one full reconcile for what they missed meanwhile.
 *
 * Publishing while disconnected fails at once with UnavailableError (the caller has already
 * stored the change; it logs and relies on the timer); while connected, `publish` resolves
 * once the server has the message (a flush), bounded by a timeout and the caller's signal.
 */
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { UnavailableError, ValidationError, errorMessage } from '../../../domain/errors.js';
import type { EventBus, EventBusHealth, EventHandler, EventSubscription } from '../../../ports/events.js';
import { assertPublishSubject, assertSubscribePattern } from '../subjects.js';
import { parseNatsUrl, type NatsTarget } from './url.js';

export type NatsConnectionEvent =
  | { readonly type: 'connected'; readonly server: string; readonly reconnect: boolean }
  | { readonly type: 'disconnected'; readonly server: string }
  | { readonly type: 'connect-failed'; readonly attempt: number; readonly err: unknown }
  | { readonly type: 'error'; readonly err: unknown };

export interface NatsEventBusOptions {
  /** The `events` setting, `nats://host:port[,…]`. */
  readonly url: string;
  /** How long `publish` waits for the server to have the message; default 2000 ms. */
  readonly publishTimeoutMs?: number;
  /** How long `init` waits for the first connection; default 5000 ms. */
  readonly connectTimeoutMs?: number;
  /** Pause between reconnect attempts; default 250 ms, so a restarted server is back in use at once. */
  readonly reconnectWaitMs?: number;
  /** Client name shown by the server's monitoring. */
  readonly name?: string;
  /** Told about handlers that threw; defaults to one line on stderr. */
  readonly onHandlerError?: (err: unknown, subject: string) => void;
  /** Told about connection changes (for the service log). */
  readonly onConnectionEvent?: (event: NatsConnectionEvent) => void;
}

interface Subscriber {
  readonly pattern: string;
  readonly handler: EventHandler;
  active: boolean;
  nats?: Subscription;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();
const MAX_FIRST_CONNECT_BACKOFF_MS = 2000;

export class NatsEventBus implements EventBus {
  readonly target: NatsTarget;
  private readonly options: NatsEventBusOptions;
  private readonly subscribers = new Set<Subscriber>();
  private readonly reconnectHandlers = new Set<() => void>();
  private readonly stopConnecting = new AbortController();
  private readonly firstConnection: Promise<void>;
  private nc: NatsConnection | undefined;
  private connected = false;
  private closed = false;
  private closing: Promise<void> | undefined;
  private lastError: string | undefined;
  private since = new Date().toISOString();

  constructor(options: NatsEventBusOptions) {
    this.options = options;
    this.target = parseNatsUrl(options.url);
    this.firstConnection = this.connectUntilUp();
  }

  /** Waits (bounded) for the first connection; UnavailableError when there is none yet (it keeps trying). */
  async init(signal?: AbortSignal): Promise<void> {
    if (this.connected) return;
    const waitMs = this.options.connectTimeoutMs ?? 5000;
    await raceTimeout(this.firstConnection, waitMs, signal).catch((err: unknown) => {
      if (signal?.aborted) throw err;
    });
    if (this.connected) return;
    this.assertOpen();
    throw new UnavailableError(
      'events',
      `NATS at ${this.target.display} did not answer within ${waitMs} ms${this.lastError ? ` (${this.lastError})` : ''}; still trying in the background`,
    );
  }

  health(): EventBusHealth {
    return this.connected
      ? { ok: true, since: this.since }
      : { ok: false, since: this.since, detail: `not connected to NATS at ${this.target.display}${this.lastError ? `: ${this.lastError}` : ''}` };
  }

  async publish(subject: string, payload: unknown, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    this.assertOpen();
    assertPublishSubject(subject);
    const data = encode(payload);
    const nc = this.nc;
    if (!nc || !this.connected) {
      throw new UnavailableError('events', `not connected to NATS at ${this.target.display}${this.lastError ? ` (${this.lastError})` : ''}`);
    }
    try {
      nc.publish(subject, data);
    } catch (err) {
      throw new UnavailableError('events', `NATS refused the message: ${errorMessage(err)}`, { cause: err });
    }
    const timeoutMs = this.options.publishTimeoutMs ?? 2000;
    try {
      await raceTimeout(nc.flush(), timeoutMs, signal);
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new UnavailableError('events', `NATS at ${this.target.display} did not confirm the message within ${timeoutMs} ms`, { cause: err });
    }
  }

  subscribe(subject: string, handler: EventHandler): EventSubscription {
    this.assertOpen();
    assertSubscribePattern(subject);
    const subscriber: Subscriber = { pattern: subject, handler, active: true };
    this.subscribers.add(subscriber);
    if (this.nc) this.attach(this.nc, subscriber);
    return {
      unsubscribe: () => {
        if (!subscriber.active) return;
        subscriber.active = false;
        this.subscribers.delete(subscriber);
        try {
          subscriber.nats?.unsubscribe();
        } catch {
          // The connection is closed already: nothing is delivered any more either way.
        }
      },
    };
  }

  onReconnect(handler: () => void): EventSubscription {
    this.reconnectHandlers.add(handler);
    return { unsubscribe: () => void this.reconnectHandlers.delete(handler) };
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    this.connected = false;
    this.stopConnecting.abort();
    for (const s of this.subscribers) s.active = false;
    this.subscribers.clear();
    this.reconnectHandlers.clear();
    const nc = this.nc;
    this.nc = undefined;
    // close() flushes what is buffered; a dead server must not hold up a shutdown.
    if (nc) await raceTimeout(nc.close(), 2000).catch(() => undefined);
  }

  /** The first connection, retried with capped backoff until it works or the bus is closed. */
  private async connectUntilUp(): Promise<void> {
    let delay = this.options.reconnectWaitMs ?? 250;
    for (let attempt = 1; !this.closed; attempt++) {
      try {
        const nc = await connect({
          servers: [...this.target.servers],
          ...(this.target.user !== undefined ? { user: this.target.user, pass: this.target.pass ?? '' } : {}),
          ...(this.target.token !== undefined ? { token: this.target.token } : {}),
          ...(this.options.name ? { name: this.options.name } : {}),
          maxReconnectAttempts: -1,
          reconnectTimeWait: this.options.reconnectWaitMs ?? 250,
          reconnectJitter: 100,
          timeout: 5000,
          // A server that vanished without closing the socket is noticed within ~30 s.
          pingInterval: 10_000,
          maxPingOut: 3,
        });
        if (this.closed) {
          await nc.close().catch(() => undefined);
          return;
        }
        this.onConnected(nc);
        return;
      } catch (err) {
        this.lastError = errorMessage(err);
        this.emit({ type: 'connect-failed', attempt, err });
        try {
          await sleep(delay, undefined, { signal: this.stopConnecting.signal });
        } catch {
          return; // closed
        }
        delay = Math.min(delay * 2, MAX_FIRST_CONNECT_BACKOFF_MS);
      }
    }
  }

  private onConnected(nc: NatsConnection): void {
    this.nc = nc;
    this.markUp();
    for (const s of this.subscribers) this.attach(nc, s);
    void this.watchStatus(nc);
    const server = nc.getServer();
    this.emit({ type: 'connected', server, reconnect: false });
    // Someone was listening before the bus was up: it may have missed events meanwhile.
    if (this.reconnectHandlers.size > 0) void this.afterReconnect(nc);
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    try {
      for await (const s of nc.status()) {
        if (this.closed) return;
        switch (s.type) {
          case 'disconnect':
            this.connected = false;
            this.since = new Date().toISOString();
            this.lastError = 'disconnected';
            this.emit({ type: 'disconnected', server: s.server });
            break;
          case 'reconnect':
            this.markUp();
            this.emit({ type: 'connected', server: s.server, reconnect: true });
            void this.afterReconnect(nc);
            break;
          case 'error':
            this.emit({ type: 'error', err: s.error });
            break;
          default:
            break;
        }
      }
    } catch (err) {
      if (!this.closed) this.emit({ type: 'error', err });
    }
  }

  /** Once the server has our subscriptions again (a flush orders after them), tell the services. */
  private async afterReconnect(nc: NatsConnection): Promise<void> {
    await raceTimeout(nc.flush(), this.options.publishTimeoutMs ?? 2000).catch(() => undefined);
    if (this.closed) return;
    for (const handler of [...this.reconnectHandlers]) {
      try {
        handler();
      } catch (err) {
        this.reportHandlerError(err, '(reconnect)');
      }
    }
  }

  private markUp(): void {
    this.connected = true;
    this.lastError = undefined;
    this.since = new Date().toISOString();
  }

  private attach(nc: NatsConnection, subscriber: Subscriber): void {
    subscriber.nats = nc.subscribe(subscriber.pattern, {
      callback: (err, msg) => {
        if (!subscriber.active || this.closed) return;
        if (err) return this.reportHandlerError(err, subscriber.pattern);
        this.deliver(subscriber, msg.subject, msg.data);
      },
    });
  }

  private deliver(subscriber: Subscriber, subject: string, data: Uint8Array): void {
    let payload: unknown;
    try {
      payload = data.length === 0 ? undefined : JSON.parse(decoder.decode(data));
    } catch (err) {
      return this.reportHandlerError(new ValidationError([{ field: 'payload', message: `is not JSON: ${errorMessage(err)}` }], { cause: err }), subject);
    }
    try {
      const result: unknown = subscriber.handler(subject, payload);
      if (result instanceof Promise) result.catch((err: unknown) => this.reportHandlerError(err, subject));
    } catch (err) {
      this.reportHandlerError(err, subject);
    }
  }

  private reportHandlerError(err: unknown, subject: string): void {
    try {
      if (this.options.onHandlerError) this.options.onHandlerError(err, subject);
      else process.stderr.write(`berth: event handler for ${subject} failed: ${errorMessage(err)}\n`);
    } catch {
      // The error reporter itself must not break delivery to the others.
    }
  }

  private emit(event: NatsConnectionEvent): void {
    try {
      this.options.onConnectionEvent?.(event);
    } catch {
      // Logging must not break the connection handling.
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new UnavailableError('events', 'the NATS event bus is closed');
  }
}

function encode(payload: unknown): Uint8Array {
  if (payload === undefined) return new Uint8Array();
  try {
    return encoder.encode(JSON.stringify(payload));
  } catch (err) {
    throw new ValidationError([{ field: 'payload', message: `must be JSON-serialisable: ${errorMessage(err)}` }], { cause: err });
  }
}

/** `promise`, or a rejection after `ms` or when `signal` aborts; the loser is left to settle unobserved-safe. */
function raceTimeout<T>(promise: Promise<T>, ms: number, signal?: AbortSignal): Promise<T> {
  promise.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
