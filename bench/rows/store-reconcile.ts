/**
 * Row "reconcile pass over 200 bots, MongoDB store vs SQLite" (issue 3): BotService.reconcileAll
 * over 200 enabled live bots with nothing to change, once on the MongoDB store and once on
 * the SQLite store, passes alternating between the two. Everything else is identical and
 * cheap on purpose: a runtime double that reports the 200 running containers from memory
 * (bench/lib/memory-runtime.ts; no Docker), the filesystem object store and the in-process
 * bus, so the difference is the store's (listBots + listStatuses per pass).
 *
 * The MongoDB server is BERTH_TEST_MONGODB_URL when set (a real mongod), otherwise CongoDB
 * (smartmongo 2.2.0) in its own process on 127.0.0.1, as in CI; the row names which.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { openEventBus } from '../../src/adapters/events/open.js';
import { openObjectStore } from '../../src/adapters/objects/open.js';
import { openStore } from '../../src/adapters/store/open.js';
import { BotService, type PassInfo } from '../../src/core/bot-service.js';
import type { Bot } from '../../src/domain/bot.js';
import type { DesiredStateStore } from '../../src/ports/store.js';
import { dropDatabase, externalMongoUrl, startMongoTestServer, uniqueDatabase } from '../../test/support/mongo-server.js';
import type { Cleanup } from '../lib/cleanup.js';
import { MemoryRuntime } from '../lib/memory-runtime.js';
import { verdict, type Row } from '../lib/report.js';
import { median, ms, percentile, ratio, round } from '../lib/stats.js';

export const STORE_RECONCILE_ROW = {
  key: 'store-reconcile',
  title: '8. reconcile pass, 200 bots, MongoDB store vs SQLite',
  goal: 'measured; every pass a no-op',
} as const;

const BOTS = 200;
const WARMUP = 3;

interface Side {
  readonly label: string;
  readonly service: BotService;
  readonly passMs: number[];
  readonly passes: PassInfo[];
}

function benchBot(i: number, now: string): Bot {
  const id = `bench-${String(i).padStart(3, '0')}`;
  const sha256 = 'c'.repeat(64);
  return {
    id,
    name: id,
    kind: 'live',
    runtime: 'python3.11',
    entrypoint: 'main.py',
    code: { key: `code/${id}/${sha256}.tar.gz`, sha256, size: 1024, format: 'tar.gz', version: 'v1' },
    flavor: 'berth',
    config: { interval_seconds: 1, symbol: 'BTC', levels: [1, 2, 3] },
    env: { MODE: 'paper' },
    resources: { memoryMb: 256, cpus: 0.5, pids: 128 },
    enabled: true,
    createdAt: now,
    updatedAt: now,
    generation: 1,
  };
}

async function side(label: string, storeUrl: string, dir: string, cleanup: Cleanup): Promise<Side> {
  const store: DesiredStateStore = openStore(storeUrl);
  const objects = openObjectStore(`file:${join(dir, 'objects')}`);
  const events = openEventBus('memory:');
  const runtime = new MemoryRuntime();
  const service = new BotService({ store, objects, events, runtime, image: 'berth-bench:double', networkMode: 'none', intervalMs: 3_600_000, graceSeconds: 1 });
  cleanup.add('services', `BotService on ${label}`, async () => {
    await service.stop({ drainTimeoutMs: 10_000 });
    await events.close();
    await objects.close();
    await store.close();
  });
  await store.init();
  await objects.init();
  const now = new Date().toISOString();
  for (let i = 0; i < BOTS; i++) await store.writeBot(benchBot(i, now), 0);
  await service.start(); // adoption: the double "starts" 200 containers, statuses are written
  if (runtime.size !== BOTS) throw new Error(`${label}: ${runtime.size} containers after the first pass, expected ${BOTS}`);
  for (let i = 0; i < WARMUP; i++) await service.reconcileAll();
  return { label, service, passMs: [], passes: [] };
}

function isNoChange(pass: PassInfo): boolean {
  const a = pass.actions;
  return pass.desired === BOTS && pass.actual === BOTS && a.none === BOTS && pass.botsActedOn === 0 && pass.statusWrites === 0 && pass.errors === 0;
}

export async function storeReconcileRow(cleanup: Cleanup, say: (line: string) => void, passes: number): Promise<Row> {
  const dir = await mkdtemp(join(os.tmpdir(), 'berth-bench-store-'));
  cleanup.add('files', `remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  const database = uniqueDatabase('bench');
  let mongoUrl = externalMongoUrl(database);
  const server = mongoUrl ? 'BERTH_TEST_MONGODB_URL' : 'CongoDB (smartmongo 2.2.0, own process)';
  if (!mongoUrl) {
    const congo = await startMongoTestServer();
    cleanup.add('processes', `stop CongoDB (pid ${congo.pid})`, () => congo.dispose());
    mongoUrl = congo.url(database);
  } else {
    const url = mongoUrl;
    cleanup.add('files', `drop database ${database}`, () => dropDatabase(url));
  }
  say(`store-reconcile: ${BOTS} bots on SQLite and on MongoDB (${server}), runtime double, ${passes} passes each, alternating`);
  const sqlite = await side('SQLite', `sqlite:${join(dir, 'sqlite', 'berth.db')}`, join(dir, 'sqlite'), cleanup);
  const mongo = await side('MongoDB', mongoUrl, join(dir, 'mongo'), cleanup);
  for (let i = 0; i < passes; i++) {
    for (const s of i % 2 === 0 ? [sqlite, mongo] : [mongo, sqlite]) {
      const began = performance.now();
      s.passes.push(await s.service.reconcileAll());
      s.passMs.push(performance.now() - began);
    }
  }
  const m = median(mongo.passMs);
  const q = median(sqlite.passMs);
  const unchanged = [...mongo.passes, ...sqlite.passes].filter(isNoChange).length;
  return {
    key: STORE_RECONCILE_ROW.key,
    title: STORE_RECONCILE_ROW.title,
    result: `MongoDB median ${ms(m)}, p99 ${ms(percentile(mongo.passMs, 99))} (n=${passes})`,
    sideBySide: `SQLite median ${ms(q)}, p99 ${ms(percentile(sqlite.passMs, 99))}; ratio ${ratio(m / q)}`,
    goal: STORE_RECONCILE_ROW.goal,
    verdict: verdict(unchanged === 2 * passes),
    details: [
      `MongoDB server: ${server} on 127.0.0.1; SQLite: a WAL file in a temporary directory. Runtime: an in-memory double reporting ${BOTS} running containers (no Docker), fs object store, in-process bus — identical on both sides.`,
      `BotService.reconcileAll() timed around the call; ${WARMUP} warm-up passes each after the adoption pass; measured passes alternate between the stores.`,
      `no changes: ${unchanged} of ${2 * passes} measured passes had ${BOTS} desired, ${BOTS} containers, only "none" actions, 0 status writes, 0 errors.`,
    ],
    figures: {
      bots: BOTS,
      passes,
      mongoServer: server,
      mongoMedianMs: round(m, 2),
      mongoP99Ms: round(percentile(mongo.passMs, 99), 2),
      sqliteMedianMs: round(q, 2),
      sqliteP99Ms: round(percentile(sqlite.passMs, 99), 2),
      ratio: round(m / q, 2),
      unchangedPasses: unchanged,
      mongoPassesMs: mongo.passMs.map((v) => round(v, 2)),
      sqlitePassesMs: sqlite.passMs.map((v) => round(v, 2)),
    },
  };
}
