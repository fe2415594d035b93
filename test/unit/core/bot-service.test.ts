/**
 * BotService against the real embedded store (SQLite in memory), the real filesystem
 * object store, the real in-process event bus and an in-memory runtime the test drives
 * like Docker. Time is a fake clock: no test waits for a real timer.
 */
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryEventBus } from '../../../src/adapters/events/memory/memory-event-bus.js';
import { FsObjectStore } from '../../../src/adapters/objects/fs/fs-object-store.js';
import { SqliteStore } from '../../../src/adapters/store/sqlite/sqlite-store.js';
import { DEFAULT_CRASH_LOOP_POLICY } from '../../../src/core/backoff.js';
import { BotService, type BotServiceOptions } from '../../../src/core/bot-service.js';
import { ServiceStoppedError } from '../../../src/core/errors.js';
import type { Bot } from '../../../src/domain/bot.js';
import { subjects, type BotChangedEvent, type BotStatusEvent } from '../../../src/domain/events.js';
import { specHash } from '../../../src/domain/spec-hash.js';
import { waitFor } from '../../support/wait.js';
import { makeBot } from './support/bots.js';
import { FakeClock } from './support/fake-clock.js';
import { FakeRuntime, gate } from './support/fake-runtime.js';

const IMAGE = 'berth-bot:test';
const INTERVAL = 30_000;

interface World {
  clock: FakeClock;
  runtime: FakeRuntime;
  store: SqliteStore;
  objects: FsObjectStore;
  events: MemoryEventBus;
  statusEvents: BotStatusEvent[];
  service: BotService;
  newService(extra?: Partial<BotServiceOptions>): BotService;
  put(bot: Bot): Promise<void>;
  update(id: string, change: Partial<Bot>): Promise<Bot>;
  changed(id: string, op?: BotChangedEvent['op']): Promise<void>;
  objectsDown(): Promise<void>;
  objectsUp(): Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function world(extra: Partial<BotServiceOptions> = {}): Promise<World> {
  const clock = new FakeClock();
  const runtime = new FakeRuntime(clock);
  const store = new SqliteStore(':memory:');
  await store.init();
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-core-'));
  const root = path.join(dir, 'objects');
  const objects = new FsObjectStore(root);
  await objects.init();
  const events = new MemoryEventBus();
  const statusEvents: BotStatusEvent[] = [];
  events.subscribe(subjects.anyBotStatus, (_s, payload) => statusEvents.push(payload as BotStatusEvent));
  const services: BotService[] = [];
  const newService = (more: Partial<BotServiceOptions> = {}) => {
    const service = new BotService({ store, objects, events, runtime, clock, image: IMAGE, networkMode: 'none', intervalMs: INTERVAL, ...extra, ...more });
    services.push(service);
    return service;
  };
  cleanups.push(async () => {
    for (const s of services) await s.stop();
    await events.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const w: World = {
    clock,
    runtime,
    store,
    objects,
    events,
    statusEvents,
    service: newService(),
    newService,
    async put(bot) {
      expect(await store.writeBot(bot, 0)).toBe(true);
    },
    async update(id, change) {
      const current = (await store.getBot(id))!;
      const next = { ...current, ...change, generation: current.generation + 1, updatedAt: clock.now().toISOString() };
      expect(await store.writeBot(next, current.generation)).toBe(true);
      return next;
    },
    async changed(id, op = 'updated') {
      const bot = await store.getBot(id);
      await events.publish(subjects.botChanged(id), { id, generation: bot?.generation ?? 0, op } satisfies BotChangedEvent);
    },
    objectsDown: () => rename(root, `${root}.away`),
    objectsUp: () => rename(`${root}.away`, root),
  };
  return w;
}

/** Lets timers fired by the fake clock and events in flight run to completion. */
async function settle(service: BotService): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  await service.idle();
  await new Promise((resolve) => setImmediate(resolve));
  await service.idle();
}

const hashOf = (bot: Bot) => specHash(bot, IMAGE);

describe('BotService', () => {
  it('starts every enabled live bot once at start-up, labelled with its spec hash, and records their status', async () => {
    const w = await world();
    const a = makeBot('a');
    const b = makeBot('b', { runtime: 'node', entrypoint: 'main.mjs' });
    await w.put(a);
    await w.put(b);
    await w.put(makeBot('off', { enabled: false }));
    await w.put(makeBot('sched', { kind: 'scheduled', schedule: { cron: '@hourly' } }));

    await w.service.start();

    expect(w.runtime.starts().map((s) => [s.name, s.specHash]).sort()).toEqual([
      ['berth-a', hashOf(a)],
      ['berth-b', hashOf(b)],
    ]);
    const [spec] = [...w.runtime.containers.values()].map((c) => c.spec!);
    expect(spec).toMatchObject({ restartPolicy: 'always', networkMode: 'none', image: IMAGE });
    expect(spec!.mounts.length).toBeGreaterThan(0);
    expect((await w.store.getStatus('a'))?.phase).toBe('starting');
    expect((await w.store.getStatus('off'))?.phase).toBe('stopped');
    expect(await w.store.getStatus('sched')).toBeNull();

    // The start check turns 'starting' into 'running' without waiting for the timer.
    w.clock.advance(5_000);
    await settle(w.service);
    expect((await w.store.getStatus('a'))?.phase).toBe('running');
    expect((await w.store.getStatus('b'))?.phase).toBe('running');
    await waitFor('status events', () => w.statusEvents.length >= 5 || undefined, { intervalMs: 5 });
    expect(w.statusEvents.filter((e) => e.id === 'a').map((e) => e.phase)).toEqual(['starting', 'running']);

    // A steady state costs nothing: no actions, no status writes.
    const pass = await w.service.reconcileAll();
    expect(pass).toMatchObject({ desired: 2, actual: 2, botsActedOn: 0, statusWrites: 0, errors: 0, objectsOk: true });
    expect(pass.actions).toEqual({ start: 0, replace: 0, remove: 0, 'crash-loop': 0, none: 2 });
    expect(w.runtime.starts()).toHaveLength(2);
  });

  it('reconciles only the changed bot, at once, and replaces it exactly once; an identical change replaces nothing', async () => {
    const w = await world();
    await w.put(makeBot('a'));
    await w.put(makeBot('b'));
    await w.service.start();
    const before = new Map([...w.runtime.containers.values()].map((c) => [c.botId, c.id]));
    const listsBefore = w.runtime.calls.filter((c) => c.op === 'list').length;

    const updated = await w.update('a', { config: { speed: 2 } });
    await w.changed('a');
    await waitFor('a replaced', () => w.runtime.starts('a').length === 2, { intervalMs: 5 });
    await settle(w.service);

    expect(w.runtime.byBot('a').map((c) => c.specHash)).toEqual([hashOf(updated)]);
    expect(w.runtime.byBot('b').map((c) => c.id)).toEqual([before.get('b')]);
    expect(w.runtime.fullLists()).toBe(1); // only the start-up pass listed everything
    const lists = w.runtime.calls.slice(listsBefore).filter((c) => c.op === 'list');
    expect(lists.every((c) => c.op === 'list' && c.filter.botId === 'a')).toBe(true);
    expect(w.runtime.maxPerBot.get('a')).toBe(1);

    await w.update('b', { name: 'renamed' }); // name does not shape the container
    await w.changed('b');
    await waitFor('b reconciled', () => w.runtime.calls.some((c) => c.op === 'list' && c.filter.botId === 'b'), { intervalMs: 5 });
    await settle(w.service);
    expect(w.runtime.starts('b')).toHaveLength(1);
  });

  it('runs a full pass single-flight: requests during a pass share one more pass after it', async () => {
    const w = await world();
    await w.put(makeBot('a'));
    const held = gate();
    w.runtime.listGate = held.promise;
    const first = w.service.reconcileAll();
    const second = w.service.reconcileAll();
    const third = w.service.reconcileAll();
    expect(third).toBe(second);
    await waitFor('first pass listing', () => w.runtime.fullLists() === 1, { intervalMs: 5 });
    held.open();
    w.runtime.listGate = undefined;
    await Promise.all([first, second, third]);
    expect(w.runtime.fullLists()).toBe(2);
    expect(w.runtime.starts('a')).toHaveLength(1);
  });

  it('never overlaps reconciles of one bot, whatever triggers them', async () => {
    const w = await world();
    await w.put(makeBot('a'));
    const held = gate();
    w.runtime.startGate = held.promise;
    const all = [w.service.reconcileBot('a'), w.service.reconcileAll(), w.service.reconcileBot('a'), w.service.reconcileBot('a')];
    await waitFor('a start in flight', () => w.runtime.starts('a').length === 1, { intervalMs: 5 });
    held.open();
    w.runtime.startGate = undefined;
    await Promise.all(all);
    expect(w.runtime.maxConcurrentStarts).toBe(1);
    expect(w.runtime.starts('a')).toHaveLength(1);
    expect(w.runtime.maxPerBot.get('a')).toBe(1);
  });

  it('adopts running containers after its own restart and applies a change made while it was down, once', async () => {
    const w = await world();
    await w.put(makeBot('a'));
    await w.put(makeBot('b'));
    await w.service.start();
    await w.service.stop();
    expect(w.runtime.containers.size).toBe(2); // stopping the service left the bots running
    const bId = w.runtime.byBot('b')[0]!.id;

    const updated = await w.update('a', { env: { MODE: 'fast' } }); // no event: nobody listens
    const second = w.newService();
    await second.start();

    expect(w.runtime.starts('a')).toHaveLength(2);
    expect(w.runtime.byBot('a').map((c) => c.specHash)).toEqual([hashOf(updated)]);
    expect(w.runtime.byBot('b').map((c) => c.id)).toEqual([bId]);
    await second.reconcileAll();
    expect(w.runtime.starts()).toHaveLength(3);
    expect(w.runtime.maxPerBot.get('a')).toBe(1);
  });

  it('starts nothing while the object store is down, reports it, and starts the bots at the next tick once it is back', async () => {
    const w = await world();
    await w.put(makeBot('a'));
    await w.put(makeBot('b'));
    await w.objectsDown();

    await w.service.start();
    expect(w.runtime.starts()).toHaveLength(0);
    expect(w.service.health().find((h) => h.name === 'objects')).toMatchObject({ ok: false });
    expect(await w.store.getStatus('a')).toMatchObject({ phase: 'pending', lastError: 'object store unavailable: start deferred' });

    w.clock.advance(INTERVAL);
    await settle(w.service);
    expect(w.runtime.starts()).toHaveLength(0); // no churn, pass after pass

    await w.objectsUp();
    w.clock.advance(INTERVAL);
    await settle(w.service);
    expect(w.runtime.starts().map((s) => s.botId).sort()).toEqual(['a', 'b']);
    expect(w.service.health().find((h) => h.name === 'objects')).toMatchObject({ ok: true });
    expect((await w.store.getStatus('a'))?.lastError).toBeUndefined();
  });

  it('leaves running bots alone while the object store is down (no stop, no replace) and catches up after', async () => {
    const w = await world();
    await w.put(makeBot('a'));
    await w.put(makeBot('b'));
    await w.service.start();
    await w.objectsDown();

    await w.update('a', { enabled: false });
    await w.update('b', { config: { v: 2 } });
    await w.service.reconcileBot('a');
    await w.service.reconcileBot('b');
    expect(w.runtime.calls.filter((c) => c.op === 'stop' || c.op === 'remove')).toEqual([]);
    expect(w.runtime.starts()).toHaveLength(2);
    expect((await w.store.getStatus('a'))?.lastError).toBe('object store unavailable: stop deferred');
    expect((await w.store.getStatus('b'))?.lastError).toBe('object store unavailable: replace deferred');

    await w.objectsUp();
    await w.service.reconcileAll();
    await settle(w.service);
    expect(w.runtime.byBot('a')).toEqual([]);
    expect((await w.store.getStatus('a'))?.phase).toBe('stopped');
    expect(w.runtime.starts('b')).toHaveLength(2);
  });

  it('stops a crash-looping bot, marks it with its exit code, and restarts it with capped exponential back-off', async () => {
    const w = await world();
    await w.put(makeBot('a'));
    await w.service.start();
    const first = w.runtime.byBot('a')[0]!;

    w.runtime.crashAndRestart(first.id, 1);
    await settle(w.service);
    w.runtime.crashAndRestart(first.id, 1);
    await settle(w.service);
    expect(w.runtime.byBot('a')).toHaveLength(1); // Docker's own restarts are fine up to the threshold

    w.runtime.crashAndRestart(first.id, 1);
    await settle(w.service);
    expect(w.runtime.byBot('a')).toEqual([]);
    const looping = (await w.store.getStatus('a'))!;
    expect(looping).toMatchObject({ phase: 'crash-looping', lastExitCode: 1, restartCount: 3, backoffCount: 1 });
    expect(looping.lastError).toContain('restarted 3 times');
    expect(Date.parse(looping.backoffUntil!) - w.clock.now().getTime()).toBe(DEFAULT_CRASH_LOOP_POLICY.initialBackoffMs);
    await waitFor('crash-looping event', () => w.statusEvents.some((e) => e.id === 'a' && e.phase === 'crash-looping'), { intervalMs: 5 });

    // A pass during the back-off starts nothing.
    await w.service.reconcileAll();
    w.clock.advance(9_999);
    await settle(w.service);
    expect(w.runtime.starts('a')).toHaveLength(1);

    w.clock.advance(1);
    await settle(w.service);
    expect(w.runtime.starts('a')).toHaveLength(2);
    expect(await w.store.getStatus('a')).toMatchObject({ phase: 'starting', restartCount: 4 });

    const second = w.runtime.byBot('a')[0]!;
    for (let i = 0; i < 3; i++) {
      w.runtime.crashAndRestart(second.id, 2);
      await settle(w.service);
    }
    const again = (await w.store.getStatus('a'))!;
    expect(again).toMatchObject({ phase: 'crash-looping', lastExitCode: 2, restartCount: 7, backoffCount: 2 });
    expect(Date.parse(again.backoffUntil!) - w.clock.now().getTime()).toBe(2 * DEFAULT_CRASH_LOOP_POLICY.initialBackoffMs);

    w.clock.advance(20_000);
    await settle(w.service);
    expect(w.runtime.starts('a')).toHaveLength(3);

    // Staying up clears the back-off; the restart count stays as history.
    for (let t = 0; t < DEFAULT_CRASH_LOOP_POLICY.resetAfterMs; t += INTERVAL) {
      w.clock.advance(INTERVAL);
      await settle(w.service);
    }
    const healthy = (await w.store.getStatus('a'))!;
    expect(healthy).toMatchObject({ phase: 'running', restartCount: 8 });
    expect(healthy.backoffCount).toBeUndefined();
    expect(healthy.lastError).toBeUndefined();
    expect(w.runtime.maxPerBot.get('a')).toBe(1);
  });

  it('uses a configured crash-loop policy', async () => {
    const w = await world({ crashLoop: { restartThreshold: 2, initialBackoffMs: 1_000, maxBackoffMs: 1_000 } });
    await w.put(makeBot('a'));
    await w.service.start();
    const c = w.runtime.byBot('a')[0]!;
    w.runtime.crashAndRestart(c.id, 3);
    await settle(w.service);
    w.runtime.crashAndRestart(c.id, 3);
    await settle(w.service);
    const s = (await w.store.getStatus('a'))!;
    expect(s).toMatchObject({ phase: 'crash-looping', lastExitCode: 3 });
    expect(Date.parse(s.backoffUntil!) - w.clock.now().getTime()).toBe(1_000);
  });

  it("keeps going when one bot fails: the others start, the failure is visible, and it is retried next tick", async () => {
    const w = await world();
    await w.put(makeBot('a'));
    await w.put(makeBot('b'));
    w.runtime.failStartFor.add('a');
    await w.service.start();
    expect(w.runtime.byBot('b')).toHaveLength(1);
    expect(await w.store.getStatus('a')).toMatchObject({ phase: 'failed', lastError: 'image has no entrypoint for a' });
    expect(w.service.lastPass?.errors).toBe(1);

    w.runtime.failStartFor.clear();
    w.clock.advance(INTERVAL);
    await settle(w.service);
    expect(w.runtime.byBot('a')).toHaveLength(1);
  });

  it('removes containers of deleted and unknown bots and forgets their status', async () => {
    const w = await world();
    await w.put(makeBot('a'));
    await w.put(makeBot('b'));
    w.runtime.add({
      id: w.runtime.newId(), name: 'berth-ghost', botId: 'ghost', kind: 'live', specHash: 'x',
      state: 'running', restartCount: 0, createdAt: w.clock.now().toISOString(),
    });
    await w.service.start();
    expect(w.runtime.byBot('ghost')).toEqual([]);

    await w.store.deleteBot('b');
    await w.changed('b', 'deleted');
    await waitFor('b removed', () => w.runtime.byBot('b').length === 0, { intervalMs: 5 });
    await settle(w.service);
    expect(await w.store.getStatus('b')).toBeNull();
    expect(w.runtime.calls).toContainEqual({ op: 'stop', id: expect.any(String), graceSeconds: 40 });
    expect(w.runtime.byBot('a')).toHaveLength(1);
  });

  it('keeps one of duplicate containers and removes the rest', async () => {
    const w = await world();
    const a = makeBot('a');
    await w.put(a);
    const now = w.clock.now().toISOString();
    w.runtime.add({ id: 'old', name: 'seed-a', botId: 'a', kind: 'live', specHash: 'stale', state: 'running', restartCount: 0, createdAt: now });
    w.runtime.add({ id: 'cur', name: 'berth-a', botId: 'a', kind: 'live', specHash: hashOf(a), state: 'running', restartCount: 0, createdAt: now });
    await w.service.start();
    expect(w.runtime.byBot('a').map((c) => c.id)).toEqual(['cur']);
    expect(w.runtime.starts()).toEqual([]);
  });

  it('starts a bot again at once when its container vanishes behind its back', async () => {
    const w = await world();
    await w.put(makeBot('a'));
    await w.service.start();
    w.runtime.removeExternally(w.runtime.byBot('a')[0]!.id);
    await waitFor('a restarted', () => w.runtime.starts('a').length === 2, { intervalMs: 5 });
    await settle(w.service);
    expect(w.runtime.byBot('a')).toHaveLength(1);
  });

  it('a killed bot (die announced before the list says exited) is started again after the exited grace, not at the next timer pass', async () => {
    const w = await world();
    await w.put(makeBot('k'));
    await w.service.start();
    // Long enough up that no re-check of its start is pending any more; the timer pass is 20 s away.
    w.clock.advance(10_000);
    await settle(w.service);
    const first = w.runtime.byBot('k')[0]!;
    w.runtime.killWithEarlyDie(first.id, 137);
    await settle(w.service);
    // The reconcile the event triggered saw it running: nothing done yet.
    expect(w.runtime.starts('k')).toHaveLength(1);
    w.clock.advance(DEFAULT_CRASH_LOOP_POLICY.exitedGraceMs + 250);
    await waitFor('k started again', () => w.runtime.starts('k').length === 2, { intervalMs: 5 });
    await settle(w.service);
    expect(w.runtime.byBot('k').map((c) => c.state)).toEqual(['running']);
    expect(10_000 + DEFAULT_CRASH_LOOP_POLICY.exitedGraceMs + 250).toBeLessThan(INTERVAL);
    // Its status counts that as a restart, with the kill's exit code.
    expect(await w.store.getStatus('k')).toMatchObject({ restartCount: 1, lastExitCode: 137 });
  });

  it('stop() is idempotent, drains the pass in flight, leaves containers running and stops reacting', async () => {
    const w = await world();
    await w.put(makeBot('a'));
    await w.service.start();
    const held = gate();
    w.runtime.listGate = held.promise;
    const pass = w.service.reconcileAll();
    await waitFor('pass listing', () => w.runtime.fullLists() === 2, { intervalMs: 5 });

    let stopped = false;
    const s1 = w.service.stop().then(() => {
      stopped = true;
    });
    const s2 = w.service.stop();
    expect(w.service.stop()).toBe(s2);
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false); // waits for the pass in flight
    held.open();
    await Promise.all([pass, s1, s2]);
    expect(stopped).toBe(true);

    expect(w.runtime.byBot('a')).toHaveLength(1);
    expect(w.runtime.calls.filter((c) => c.op === 'stop' || c.op === 'remove')).toEqual([]);
    expect(w.clock.pending()).toBe(0);
    await expect(w.service.reconcileAll()).rejects.toBeInstanceOf(ServiceStoppedError);
    await expect(w.service.reconcileBot('a')).rejects.toBeInstanceOf(ServiceStoppedError);

    const calls = w.runtime.calls.length;
    await w.update('a', { config: { after: true } });
    await w.changed('a');
    w.runtime.removeExternally(w.runtime.byBot('a')[0]!.id);
    await new Promise((resolve) => setImmediate(resolve));
    await w.service.idle();
    expect(w.runtime.calls.length).toBe(calls);
  });

  it('can be stopped without having been started', async () => {
    const w = await world();
    await w.service.stop();
    await expect(w.service.start()).rejects.toBeInstanceOf(ServiceStoppedError);
  });
});

describe('BotService triggers', () => {
  it('runs a full pass when the event bus reports a reconnect (events may have been missed)', async () => {
    const w = await world();
    let reconnect: (() => void) | undefined;
    const bus = Object.assign(Object.create(w.events) as MemoryEventBus, {
      onReconnect(handler: () => void) {
        reconnect = handler;
        return { unsubscribe: () => (reconnect = undefined) };
      },
    });
    const service = w.newService({ events: bus });
    await w.put(makeBot('a'));
    await service.start();
    expect(w.runtime.fullLists()).toBe(1);
    w.runtime.removeExternally(w.runtime.byBot('a')[0]!.id); // its event is lost along with the others
    w.runtime.calls.length = 0;
    reconnect!();
    await settle(service);
    expect(w.runtime.fullLists()).toBeGreaterThanOrEqual(1);
    expect(w.runtime.byBot('a')).toHaveLength(1);
    await service.stop();
    expect(reconnect).toBeUndefined();
  });

  it('ignores runtime events of scheduled runs and changed events without a valid bot id', async () => {
    const w = await world();
    await w.service.start();
    const calls = w.runtime.calls.length;
    w.runtime.add({
      id: 'run1', name: 'berth-s-r1', botId: 's', kind: 'scheduled', specHash: 'x',
      state: 'running', restartCount: 0, createdAt: w.clock.now().toISOString(),
    });
    w.runtime.removeExternally('run1');
    await w.events.publish('berth.bot.NOT_VALID.changed', { id: 'NOT VALID' });
    await settle(w.service);
    expect(w.runtime.calls.length).toBe(calls);
  });

  it('reconciles on the timer, pass after pass', async () => {
    const w = await world();
    await w.service.start();
    for (let i = 0; i < 3; i++) {
      w.clock.advance(INTERVAL);
      await settle(w.service);
    }
    expect(w.runtime.fullLists()).toBe(4);
    expect(w.clock.pending()).toBe(1); // exactly the next tick
  });
});
