/**
 * Real embedded adapters (SQLite file, directory object store, in-process bus) in a
 * private temp directory, with a BotRegistry over them and the events it published.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openEventBus } from '../../../src/adapters/events/open.js';
import { openObjectStore } from '../../../src/adapters/objects/open.js';
import { openStore } from '../../../src/adapters/store/open.js';
import { inspectPackage } from '../../../src/archive/inspect.js';
import type { PackageLimits } from '../../../src/archive/types.js';
import { BotRegistry } from '../../../src/core/registry/bot-registry.js';
import type { BotChangedEvent } from '../../../src/domain/events.js';
import { subjects } from '../../../src/domain/events.js';
import type { EventBus } from '../../../src/ports/events.js';
import type { ObjectStore } from '../../../src/ports/objects.js';
import type { DesiredStateStore } from '../../../src/ports/store.js';

export interface Harness {
  readonly dir: string;
  readonly store: DesiredStateStore;
  readonly objects: ObjectStore;
  readonly events: EventBus;
  readonly registry: BotRegistry<Partial<PackageLimits>>;
  /** Every bot-changed event delivered so far, in order. */
  readonly changed: BotChangedEvent[];
  /** Every object key in the store, sorted. */
  keys(): Promise<string[]>;
  /** A file path inside the harness's scratch directory. */
  scratch(name: string): string;
  close(): Promise<void>;
}

export interface HarnessOptions {
  readonly limits?: Partial<PackageLimits>;
  readonly now?: () => Date;
  readonly removeWaitMs?: number;
}

export async function openHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-registry-test-'));
  const store = openStore(`sqlite:${path.join(dir, 'berth.db')}`);
  const objects = openObjectStore(`file:${path.join(dir, 'objects')}`);
  const events = openEventBus('memory:');
  await store.init();
  await objects.init();
  const changed: BotChangedEvent[] = [];
  events.subscribe(subjects.anyBotChanged, (_subject, payload) => changed.push(payload as BotChangedEvent));
  const registry = new BotRegistry<Partial<PackageLimits>>({
    store,
    objects,
    events,
    limits: options.limits ?? {},
    inspect: (file, limits) => inspectPackage(file, limits),
    ...(options.now ? { clock: options.now } : {}),
    removeWaitMs: options.removeWaitMs ?? 5_000,
    removePollMs: 20,
  });
  return {
    dir,
    store,
    objects,
    events,
    registry,
    changed,
    async keys() {
      const out: string[] = [];
      for await (const info of objects.list('')) out.push(info.key);
      return out.sort();
    },
    scratch: (name) => path.join(dir, name),
    async close() {
      registry.close();
      await events.close();
      await store.close();
      await objects.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Resolves once every event published before the call has been delivered: the bus keeps
 * publish order, so a marker published now arrives after all of them.
 */
export async function flushEvents(events: EventBus): Promise<void> {
  const subject = `berth.test.flush-${Math.random().toString(36).slice(2)}`;
  await new Promise<void>((resolve, reject) => {
    const sub = events.subscribe(subject, () => {
      sub.unsubscribe();
      resolve();
    });
    events.publish(subject, {}).catch(reject);
  });
}

export async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}
