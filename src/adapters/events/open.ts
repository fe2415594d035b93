/**
 * Picks the event bus adapter from the `events` setting (`--events`, DESIGN §2).
 */
import { ValidationError } from '../../domain/errors.js';
import type { EventBus } from '../../ports/events.js';
import { MemoryEventBus } from './memory/memory-event-bus.js';

export const EVENT_BUS_URL_FORMS = ['memory:'] as const;

export function openEventBus(url: string): EventBus {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'memory':
      if (url.slice('memory:'.length) !== '') throw invalid(url, 'takes nothing after "memory:"');
      return new MemoryEventBus();
    // Dispatch point: `case 'nats':` / `case 'tls':` go here.
    default:
      throw invalid(url, scheme === undefined ? 'has no scheme' : `has an unknown scheme "${scheme}:"`);
  }
}

function invalid(url: string, problem: string): ValidationError {
  return ValidationError.single('events', `${JSON.stringify(url)} ${problem}; accepted forms: ${EVENT_BUS_URL_FORMS.join(', ')}`);
}
