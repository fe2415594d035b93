/**
 * A world for unit tests of the ScheduleService's scheduling logic: the REAL SQLite store
 * (one database file, one connection per service, as two processes would have), the real
 * filesystem object store and in-process event bus, an injected clock, and the in-memory
 * runtime of ./run-runtime.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MemoryEventBus } from '../../../../src/adapters/events/memory/memory-event-bus.js';
import { FsObjectStore } from '../../../../src/adapters/objects/fs/fs-object-store.js';
import { SqliteStore } from '../../../../src/adapters/store/sqlite/sqlite-store.js';
import { ScheduleService, type ScheduleServiceOptions } from '../../../../src/core/schedule-service.js';
import type { Bot } from '../../../../src/domain/bot.js';
import { subjects } from '../../../../src/domain/events.js';
import type { Run } from '../../../../src/domain/run.js';
import { makeBot } from '../../core/support/bots.js';
import { FakeClock } from '../../core/support/fake-clock.js';
import { waitFor } from '../../../support/wait.js';
import { RunRuntime } from './run-runtime.js';

export const IMAGE = 'berth-bot:test';

export interface World {
  readonly clock: FakeClock;
  readonly runtime: RunRuntime;
  /** The test's own connection (reads and writes desired state). */
  readonly store: SqliteStore;
  readonly objects: FsObjectStore;
  readonly events: MemoryEventBus;
  readonly dir: string;
  readonly services: ScheduleService[];
  /** A new service on its own connection to the same database file. */
  service(extra?: Partial<ScheduleServiceOptions>): ScheduleService;
  put(bot: Bot): Promise<void>;
  update(id: string, change: Partial<Bot>): Promise<Bot>;
  remove(id: string): Promise<void>;
  /** Lets every service finish what the last clock move started (and runs that exit at once). */
  settle(): Promise<void>;
  /** Waits until every exited run container has been recorded and removed. */
  drained(): Promise<void>;
  /** Moves the clock, then settles. */
  advance(ms: number): Promise<void>;
  runs(botId: string): Promise<Run[]>;
  cleanup(): Promise<void>;
}

export function scheduledBot(id: string, schedule: Record<string, unknown>, extra: Record<string, unknown> = {}): Bot {
  return makeBot(id, { kind: 'scheduled', schedule, ...extra });
}

export async function world(start = '2026-03-01T11:59:30.000Z'): Promise<World> {
  const clock = new FakeClock(Date.parse(start));
  const runtime = new RunRuntime(clock);
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-sched-'));
  const file = path.join(dir, 'berth.db');
  const store = new SqliteStore(file);
  await store.init();
  const objects = new FsObjectStore(path.join(dir, 'objects'));
  await objects.init();
  const events = new MemoryEventBus();
  const services: ScheduleService[] = [];
  const connections: SqliteStore[] = [store];
  const settle = async (): Promise<void> => {
    for (let round = 0; round < 4; round++) {
      await Promise.all(services.map((s) => s.idle()));
      await new Promise((r) => setImmediate(r));
      clock.advance(0);
    }
    await Promise.all(services.map((s) => s.idle()));
  };
  const w: World = {
    clock,
    runtime,
    store,
    objects,
    events,
    dir,
    services,
    service(extra = {}) {
      const own = new SqliteStore(file);
      connections.push(own);
      const s = new ScheduleService({ store: own, objects, events, runtime, clock, image: IMAGE, networkMode: 'none', graceSeconds: 2, ...extra });
      services.push(s);
      return s;
    },
    async put(bot) {
      const existing = await store.getBot(bot.id);
      await store.writeBot({ ...bot, generation: (existing?.generation ?? 0) + 1 }, existing?.generation ?? 0);
      await events.publish(subjects.botChanged(bot.id), { id: bot.id, generation: 1, op: existing ? 'updated' : 'created' });
    },
    async update(id, change) {
      const current = (await store.getBot(id)) as Bot;
      const next = { ...current, ...change, generation: current.generation + 1 };
      await store.writeBot(next, current.generation);
      await events.publish(subjects.botChanged(id), { id, generation: next.generation, op: 'updated' });
      return next;
    },
    async remove(id) {
      await store.deleteBot(id);
      await events.publish(subjects.botChanged(id), { id, generation: 0, op: 'deleted' });
    },
    settle,
    async drained() {
      await waitFor('exited run containers recorded and removed', () => [...runtime.containers.values()].every((c) => c.kind !== 'scheduled' || c.state === 'running'), {
        timeoutMs: 10_000,
        intervalMs: 5,
      });
      await settle();
    },
    async advance(ms) {
      clock.advance(ms);
      await settle();
    },
    runs: (botId) => store.listRuns(botId, 500),
    async cleanup() {
      for (const s of services) await s.stop();
      await events.close();
      for (const c of connections) await c.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return w;
}
