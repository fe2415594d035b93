/**
 * Conformance suite of the EventBus port (src/ports/events.ts). Every adapter runs exactly
 * this suite: `eventBusContract('memory', async () => ({ bus, handlerErrors, cleanup }))`.
 * Every subject is put under a random first token, so a bus shared with other tests (a
 * NATS server) does not leak into the assertions.
 *
 * Completion is observed, never slept for: a subscription has seen everything published
 * before a "flush" message once that message arrives (one publisher, one subscription:
 * delivery is in publish order on every bus).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/errors.js';
import type { EventBus, EventSubscription } from '../../src/ports/events.js';
import { waitFor } from '../support/wait.js';

export interface EventBusFixture {
  readonly bus: EventBus;
  /** Errors of handlers that threw, as the adapter reported them (its error hook). */
  readonly handlerErrors: unknown[];
  cleanup(): Promise<void>;
}

interface Received {
  readonly subject: string;
  readonly payload: unknown;
}

const FLUSH = '__flush__';

/**
 * Wildcard semantics of NATS. Subjects and patterns are relative to the test's namespace
 * token, so `>` here is `<ns>.>` on the bus.
 */
const SUBJECTS = ['bot.b1.changed', 'bot.b2.changed', 'bot.b1.status', 'bot.b1', 'bot', 'bot.b1.changed.extra', 'other.b1.changed'] as const;
const WILDCARD_TABLE: readonly { pattern: string; matches: readonly (typeof SUBJECTS)[number][] }[] = [
  { pattern: 'bot.b1.changed', matches: ['bot.b1.changed'] },
  { pattern: 'bot.*.changed', matches: ['bot.b1.changed', 'bot.b2.changed'] },
  { pattern: 'bot.>', matches: ['bot.b1.changed', 'bot.b2.changed', 'bot.b1.status', 'bot.b1', 'bot.b1.changed.extra'] },
  { pattern: 'bot.*', matches: ['bot.b1'] },
  { pattern: '*.b1.*', matches: ['bot.b1.changed', 'bot.b1.status', 'other.b1.changed'] },
  { pattern: '*', matches: ['bot'] },
  { pattern: '>', matches: [...SUBJECTS] },
  { pattern: 'bot.b1.>', matches: ['bot.b1.changed', 'bot.b1.status', 'bot.b1.changed.extra'] },
  { pattern: '*.*.*.*', matches: ['bot.b1.changed.extra'] },
  { pattern: 'bot', matches: ['bot'] },
];

export function eventBusContract(name: string, make: () => Promise<EventBusFixture>): void {
  describe(`EventBus contract: ${name}`, () => {
    let fixture: EventBusFixture;
    let bus: EventBus;
    let ns: string;
    const subscriptions: EventSubscription[] = [];

    /** Subscribes to `<ns>.<pattern>` and records everything it receives. */
    function record(pattern: string): { received: Received[]; sub: EventSubscription } {
      const received: Received[] = [];
      const sub = bus.subscribe(`${ns}.${pattern}`, (subject, payload) => {
        received.push({ subject: subject.slice(ns.length + 1), payload });
      });
      subscriptions.push(sub);
      return { received, sub };
    }

    /** Publishes a flush message the pattern matches and waits until `received` has it. */
    async function flush(pattern: string, received: Received[]): Promise<Received[]> {
      const subject = pattern.replace(/\*/g, 'f').replace(/>$/, 'f.f');
      const id = randomBytes(4).toString('hex');
      await bus.publish(`${ns}.${subject}`, { [FLUSH]: id });
      await waitFor(`flush on ${pattern}`, () => received.some((r) => isFlush(r, id)), { timeoutMs: 10_000, intervalMs: 5 });
      return received.filter((r) => !isFlush(r));
    }

    beforeEach(async () => {
      fixture = await make();
      bus = fixture.bus;
      ns = `t${randomBytes(5).toString('hex')}`;
    });
    afterEach(async () => {
      for (const sub of subscriptions.splice(0)) sub.unsubscribe();
      await bus.close();
      await fixture.cleanup();
    });

    it('delivers a published payload to a subscriber of the exact subject', async () => {
      const { received } = record('bot.b1.changed');
      const payload = { id: 'b1', generation: 3, op: 'updated', nested: { list: [1, 'two', null], ok: true } };
      await bus.publish(`${ns}.bot.b1.changed`, payload);
      await waitFor('delivery', () => received.length === 1);
      expect(received).toEqual([{ subject: 'bot.b1.changed', payload }]);
    });

    it('matches subjects with NATS wildcards', async () => {
      const recorders = WILDCARD_TABLE.map((row) => ({ row, ...record(row.pattern) }));
      for (const subject of SUBJECTS) await bus.publish(`${ns}.${subject}`, { subject });
      for (const { row, received } of recorders) {
        const got = (await flush(row.pattern, received)).map((r) => r.subject);
        expect({ pattern: row.pattern, got }).toEqual({ pattern: row.pattern, got: [...row.matches] });
      }
    });

    it('delivers in publish order to every subscriber of a subject', async () => {
      const first = record('bot.b1.status');
      const second = record('bot.*.status');
      for (let i = 0; i < 50; i++) await bus.publish(`${ns}.bot.b1.status`, { i });
      for (const r of [first, second]) {
        const got = await flush(r === first ? 'bot.b1.status' : 'bot.*.status', r.received);
        expect(got.map((m) => (m.payload as { i: number }).i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      }
    });

    it('never calls a handler from inside publish', async () => {
      let publishing = false;
      const seen: boolean[] = [];
      subscriptions.push(bus.subscribe(`${ns}.bot.b1.changed`, () => seen.push(publishing)));
      publishing = true;
      const done = bus.publish(`${ns}.bot.b1.changed`, {});
      publishing = false;
      await done;
      await waitFor('delivery', () => seen.length === 1);
      expect(seen).toEqual([false]);
    });

    it('gives each subscriber its own copy of the payload', async () => {
      const payload = { list: [1] };
      const a = bus.subscribe(`${ns}.bot.b1.changed`, (_s, p) => (p as { list: number[] }).list.push(99));
      const { received } = record('bot.b1.changed');
      subscriptions.push(a);
      await bus.publish(`${ns}.bot.b1.changed`, payload);
      const got = await flush('bot.b1.changed', received);
      expect(got[0]?.payload).toEqual({ list: [1] });
      expect(payload).toEqual({ list: [1] });
    });

    it('keeps delivering to other handlers, and later messages, when a handler throws', async () => {
      let calls = 0;
      subscriptions.push(
        bus.subscribe(`${ns}.bot.b1.changed`, (_s, p) => {
          calls++;
          if (!isFlushPayload(p)) throw new Error('handler bug');
        }),
      );
      const { received } = record('bot.b1.changed');
      await bus.publish(`${ns}.bot.b1.changed`, { n: 1 });
      await bus.publish(`${ns}.bot.b1.changed`, { n: 2 });
      const got = await flush('bot.b1.changed', received);
      expect(got.map((r) => r.payload)).toEqual([{ n: 1 }, { n: 2 }]);
      await waitFor('the throwing handler saw all three', () => calls === 3);
      await waitFor('both errors reported', () => fixture.handlerErrors.length === 2);
      expect(fixture.handlerErrors.map((e) => (e as Error).message)).toEqual(['handler bug', 'handler bug']);
    });

    it('stops delivering after unsubscribe, which is idempotent', async () => {
      const gone = record('bot.b1.changed');
      const stays = record('bot.b1.changed');
      await bus.publish(`${ns}.bot.b1.changed`, { n: 1 });
      await flush('bot.b1.changed', gone.received);
      gone.sub.unsubscribe();
      gone.sub.unsubscribe();
      const before = gone.received.length;
      await bus.publish(`${ns}.bot.b1.changed`, { n: 2 });
      const got = await flush('bot.b1.changed', stays.received);
      expect(got.map((r) => r.payload)).toEqual([{ n: 1 }, { n: 2 }]);
      expect(gone.received.length).toBe(before);
    });

    it('delivers nothing published after unsubscribe, even with messages in flight', async () => {
      const { received, sub } = record('bot.b1.changed');
      const stays = record('bot.b1.changed');
      await bus.publish(`${ns}.bot.b1.changed`, { n: 1 });
      sub.unsubscribe();
      await flush('bot.b1.changed', stays.received);
      // A subscription may have received the message before unsubscribe; never after it.
      expect(received.filter((r) => !isFlush(r)).length).toBeLessThanOrEqual(1);
      expect(received.some((r) => isFlush(r))).toBe(false);
    });

    it('rejects invalid subjects and patterns with a ValidationError', async () => {
      for (const subject of [`${ns}.bot.*`, `${ns}.>`, `${ns}..x`, '', `${ns}.a b`, `${ns}.`]) {
        await expect(bus.publish(subject, {}), JSON.stringify(subject)).rejects.toBeInstanceOf(ValidationError);
      }
      for (const pattern of [`${ns}.>.x`, `${ns}..x`, '', `${ns}.a*`, `${ns}.`]) {
        expect(() => bus.subscribe(pattern, () => undefined), JSON.stringify(pattern)).toThrow(ValidationError);
      }
    });

    it('accepts onReconnect registrations with an idempotent unsubscribe', () => {
      const sub = bus.onReconnect(() => undefined);
      sub.unsubscribe();
      sub.unsubscribe();
    });

    it('close is idempotent', async () => {
      await bus.close();
      await expect(bus.close()).resolves.toBeUndefined();
    });
  });
}

function isFlushPayload(payload: unknown, id?: string): boolean {
  if (typeof payload !== 'object' || payload === null || !(FLUSH in payload)) return false;
  return id === undefined || (payload as Record<string, unknown>)[FLUSH] === id;
}

function isFlush(r: Received, id?: string): boolean {
  return isFlushPayload(r.payload, id);
}
