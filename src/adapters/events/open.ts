/**
 * Picks the event bus adapter from the `events` setting (`--events`, DESIGN §2).
 */
import { ValidationError } from '../../domain/errors.js';
import type { EventBus } from '../../ports/events.js';
import { MemoryEventBus } from './memory/memory-event-bus.js';
import { NatsEventBus, type NatsConnectionEvent } from './nats/nats-event-bus.js';
import { NATS_URL_FORM } from './nats/url.js';

export const EVENT_BUS_URL_FORMS = ['memory:', NATS_URL_FORM] as const;

export interface OpenEventBusOptions {
  /** Told about handlers that threw (default: one line on stderr). */
  readonly onHandlerError?: (err: unknown, subject: string) => void;
  /** Connection changes of a shared bus, for the service log. */
  readonly onConnectionEvent?: (event: NatsConnectionEvent) => void;
  /** Client name a shared bus shows (e.g. `berth bot-runner 1234`). */
  readonly name?: string;
}

export function openEventBus(url: string, options: OpenEventBusOptions = {}): EventBus {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'memory':
      if (url.slice('memory:'.length) !== '') throw invalid(url, 'takes nothing after "memory:"');
      return new MemoryEventBus(options.onHandlerError ? { onHandlerError: options.onHandlerError } : {});
    case 'nats':
      return new NatsEventBus({ url, ...options });
    default:
      throw invalid(url, scheme === undefined ? 'has no scheme' : `has an unknown scheme "${scheme}:"`);
  }
}

function invalid(url: string, problem: string): ValidationError {
  return ValidationError.single('events', `${JSON.stringify(url)} ${problem}; accepted forms: ${EVENT_BUS_URL_FORMS.join(', ')}`);
}
