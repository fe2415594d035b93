/**
 * The in-process event bus: the shared contract, plus what only it promises (nothing
 * queued is delivered after unsubscribe or close, onReconnect never fires) and its URL.
 */
import { describe, expect, it } from 'vitest';
import { MemoryEventBus } from '../../src/adapters/events/memory/memory-event-bus.js';
import { openEventBus } from '../../src/adapters/events/open.js';
import { UnavailableError, ValidationError } from '../../src/domain/errors.js';
import { waitFor } from '../support/wait.js';
import { eventBusContract } from './events.contract.js';

eventBusContract('memory', async () => {
  const handlerErrors: unknown[] = [];
  return {
    bus: new MemoryEventBus({ onHandlerError: (err) => handlerErrors.push(err) }),
    handlerErrors,
    cleanup: async () => undefined,
  };
});

describe('MemoryEventBus specifics', () => {
  it('does not deliver a queued message to a subscription removed before delivery', async () => {
    const bus = new MemoryEventBus();
    const gone: unknown[] = [];
    const stays: unknown[] = [];
    const sub = bus.subscribe('a.b', (_s, p) => gone.push(p));
    bus.subscribe('a.b', (_s, p) => stays.push(p));
    await bus.publish('a.b', 1);
    sub.unsubscribe();
    await waitFor('the other subscriber', () => stays.length === 1);
    expect(gone).toEqual([]);
    await bus.close();
  });

  it('never fires onReconnect', async () => {
    const bus = new MemoryEventBus();
    let reconnects = 0;
    bus.onReconnect(() => reconnects++);
    const seen: unknown[] = [];
    bus.subscribe('a.>', (_s, p) => seen.push(p));
    for (let i = 0; i < 10; i++) await bus.publish(`a.${i}`, i);
    await waitFor('all deliveries', () => seen.length === 10);
    await bus.close();
    expect(reconnects).toBe(0);
  });

  it('reports handlers whose promise rejects', async () => {
    const errors: unknown[] = [];
    const bus = new MemoryEventBus({ onHandlerError: (err, subject) => errors.push([subject, (err as Error).message]) });
    bus.subscribe('a.b', async () => {
      throw new Error('async bug');
    });
    await bus.publish('a.b', {});
    await waitFor('the rejection reported', () => errors.length === 1);
    expect(errors).toEqual([['a.b', 'async bug']]);
    await bus.close();
  });

  it('keeps delivering when the error hook itself throws', async () => {
    const bus = new MemoryEventBus({
      onHandlerError: () => {
        throw new Error('hook bug');
      },
    });
    const seen: unknown[] = [];
    bus.subscribe('a.b', () => {
      throw new Error('handler bug');
    });
    bus.subscribe('a.b', (_s, p) => seen.push(p));
    await bus.publish('a.b', 1);
    await bus.publish('a.b', 2);
    await waitFor('both delivered', () => seen.length === 2);
    expect(seen).toEqual([1, 2]);
    await bus.close();
  });

  it('rejects payloads that are not JSON', async () => {
    const bus = new MemoryEventBus();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await expect(bus.publish('a.b', circular)).rejects.toBeInstanceOf(ValidationError);
    await bus.close();
  });

  it('is unavailable after close and drops what was queued', async () => {
    const bus = new MemoryEventBus();
    const seen: unknown[] = [];
    bus.subscribe('a.b', (_s, p) => seen.push(p));
    await bus.publish('a.b', 1);
    await bus.close();
    await expect(bus.publish('a.b', 2)).rejects.toBeInstanceOf(UnavailableError);
    expect(() => bus.subscribe('a.b', () => undefined)).toThrow(UnavailableError);
    // The queued delivery runs on the next turn: give it that turn, then check it was dropped.
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(seen).toEqual([]);
  });
});

describe('openEventBus', () => {
  it('opens memory:', async () => {
    const bus = openEventBus('memory:');
    expect(bus).toBeInstanceOf(MemoryEventBus);
    await bus.close();
  });

  it('rejects unknown schemes and malformed URLs, naming the setting and the accepted forms', () => {
    for (const url of ['kafka://x', 'memory', 'memory:extra', '']) {
      let caught: unknown;
      try {
        openEventBus(url);
      } catch (err) {
        caught = err;
      }
      expect(caught, url).toBeInstanceOf(ValidationError);
      const issue = (caught as ValidationError).issues[0];
      expect(issue?.field).toBe('events');
      expect(issue?.message).toContain('memory:');
    }
  });
});
