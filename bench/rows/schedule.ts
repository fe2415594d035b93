/**
 * Issue 4 rows: fire jitter of the ScheduleService and its memory with 1,000 schedules.
 *
 * Jitter: the real ScheduleService (real SQLite store, filesystem object store, Docker
 * runtime, real daemon in the real bot image, real timers) fires an every-minute schedule.
 * So that 100 fires do not take 100 minutes, its clock is the real clock plus an offset
 * that jumps ahead between fires: each slot's warm start arrives shortly after the previous
 * run was recorded, in real time, through the scheduler's own timer; the daemon's start
 * time (real time) is shifted by the same offset. The bot is a Node one-liner that prints
 * when its process began (performance.timeOrigin) and exits.
 *
 * Two schedulers side by side, fire for fire: one with the warm start (the container starts
 * ahead of the slot, its daemon starts the bot at the slot), one with `warmStartMs: 0` (the
 * container starts at the slot, as cron would). Jitter = the bot process's start − the slot.
 *
 * Memory: heap used after a full GC with 1,000 enabled schedules loaded, minus before, in
 * this process (the ScheduleService holds each bot record and its stored next slot).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { MemoryEventBus } from '../../src/adapters/events/memory/memory-event-bus.js';
import { FsObjectStore } from '../../src/adapters/objects/fs/fs-object-store.js';
import { DockerRuntime } from '../../src/adapters/runtime/docker/docker-runtime.js';
import { SqliteStore } from '../../src/adapters/store/sqlite/sqlite-store.js';
import type { Cancel, Clock } from '../../src/core/clock.js';
import { ScheduleService } from '../../src/core/schedule-service.js';
import { parseBotSpec, type Bot } from '../../src/domain/bot.js';
import { DEFAULT_INSTANCE, containerNameFor } from '../../src/domain/container-name.js';
import { DAEMON_ENV } from '../../src/domain/daemon-contract.js';
import { parseLogChunk } from '../../src/domain/logs.js';
import { objectKeys } from '../../src/domain/object-keys.js';
import type { ActualContainer, ContainerRuntime, ContainerSpec } from '../../src/ports/runtime.js';
import type { Cleanup } from '../lib/cleanup.js';
import { tarGz } from '../lib/packages.js';
import { verdict, type Row } from '../lib/report.js';
import { max, median, mib, ms, percentile, ratio, round } from '../lib/stats.js';
import { waitUntil, type DockerBench } from './context.js';

export const JITTER_ROW = { key: 'schedule-jitter', title: '6. scheduled fire jitter (bot start − slot)', goal: 'p99 ≤ 250 ms' } as const;
export const SCHEDULER_MEMORY_ROW = { key: 'scheduler-memory', title: '7. scheduler memory, 1,000 schedules', goal: 'reported' } as const;
const GOAL_P99_MS = 250;
const MINUTE = 60_000;
/** The bench's warm start: ample for Docker's start plus init here, and 3.5 s less waiting per fire than the default 5 s. */
const BENCH_WARM_START_MS = 1_500;
const BOT_MARKER = 'BENCH-RUN-ORIGIN';

/** Real time plus an offset the benchmark moves forward between fires; pending timers follow the jump. */
class JumpingClock implements Clock {
  offsetMs = 0;
  private readonly pending = new Set<{ due: number; fn: () => void; handle?: NodeJS.Timeout }>();
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  setTimeout(fn: () => void, ms: number): Cancel {
    const timer: { due: number; fn: () => void; handle?: NodeJS.Timeout } = { due: this.now().getTime() + Math.max(0, ms), fn };
    this.pending.add(timer);
    this.arm(timer);
    return () => {
      clearTimeout(timer.handle);
      this.pending.delete(timer);
    };
  }
  /** Moves the clock so that `instant` is `inMs` of real time away. */
  jumpTo(instant: number, inMs: number): void {
    this.offsetMs = instant - inMs - Date.now();
    for (const timer of this.pending) {
      clearTimeout(timer.handle);
      this.arm(timer);
    }
  }
  private arm(timer: { due: number; fn: () => void; handle?: NodeJS.Timeout }): void {
    timer.handle = setTimeout(() => {
      this.pending.delete(timer);
      timer.fn();
    }, Math.max(0, timer.due - this.now().getTime()));
  }
}

/** The Docker runtime as the scheduler sees it: the daemon's start time moved from the jumping clock to real time. */
function realTimeStarts(inner: ContainerRuntime, clock: JumpingClock, starts: Map<string, ActualContainer>): ContainerRuntime {
  return Object.assign(Object.create(inner) as ContainerRuntime, {
    start: async (spec: ContainerSpec, signal?: AbortSignal) => {
      const startAt = spec.env[DAEMON_ENV.startAt];
      const env = startAt === undefined ? spec.env : { ...spec.env, [DAEMON_ENV.startAt]: String(Number(startAt) - clock.offsetMs) };
      const c = await inner.start({ ...spec, env }, signal);
      if (spec.runId) starts.set(spec.runId, c);
      return c;
    },
  });
}

function scheduledBot(id: string, cron: string, code?: { key: string; sha256: string; size: number }): Bot {
  const sha = code?.sha256 ?? 'b'.repeat(64);
  const spec = parseBotSpec({
    id,
    kind: 'scheduled',
    schedule: { cron },
    runtime: 'nodejs20',
    entrypoint: 'main.mjs',
    code: { key: code?.key ?? `code/${id}/${sha}.tar.gz`, sha256: sha, size: code?.size ?? 100, format: 'tar.gz', version: 'bench' },
  });
  const at = new Date().toISOString();
  return { ...spec, createdAt: at, updatedAt: at, generation: 1 };
}

/** One scheduler with its own store, clock and bot: the warm one or the cold one. */
interface Side {
  readonly label: string;
  readonly id: string;
  readonly clock: JumpingClock;
  readonly store: SqliteStore;
  readonly objects: FsObjectStore;
  readonly events: MemoryEventBus;
  readonly service: ScheduleService;
  readonly starts: Map<string, ActualContainer>;
  readonly botStarts: number[];
  readonly containerStarts: number[];
}

async function openSide(ctx: DockerBench, docker: DockerRuntime, dir: string, label: string, warmStartMs: number): Promise<Side> {
  const id = `jitter-${label}-${ctx.tag}`;
  const store = new SqliteStore(join(dir, `${label}.db`));
  const objects = new FsObjectStore(join(dir, `objects-${label}`));
  await objects.init();
  const body = await tarGz({ 'main.mjs': `console.log('${BOT_MARKER}', performance.timeOrigin);\n` });
  const sha256 = createHash('sha256').update(body).digest('hex');
  const key = objectKeys.code(id, sha256, 'tar.gz');
  await objects.put(key, body, body.length);
  const clock = new JumpingClock();
  // The first slot on a whole minute, its warm start far enough away that nothing fires before fireOnce jumps to it.
  clock.jumpTo(Math.ceil((Date.now() + 2 * MINUTE) / MINUTE) * MINUTE - warmStartMs, 30_000);
  await store.writeBot(scheduledBot(id, '* * * * *', { key, sha256, size: body.length }), 0);
  const events = new MemoryEventBus();
  const starts = new Map<string, ActualContainer>();
  const runtime = realTimeStarts(docker, clock, starts);
  const service = new ScheduleService({ store, objects, events, runtime, clock, image: ctx.image, networkMode: 'none', graceSeconds: 2, resyncIntervalMs: 3_600_000, warmStartMs });
  await service.start();
  return { label, id, clock, store, objects, events, service, starts, botStarts: [], containerStarts: [] };
}

/** The bot's own line of this run, from the log chunks its daemon shipped: when its process began (real time). */
async function botOrigin(side: Side, runId: string): Promise<number | undefined> {
  for await (const info of side.objects.list(objectKeys.logsPrefix(side.id))) {
    const bytes = await side.objects.get(info.key);
    const entry = bytes ? parseLogChunk(bytes.toString('utf8')).find((e) => e.runId === runId && e.line.startsWith(BOT_MARKER)) : undefined;
    if (entry) return Number(entry.line.slice(BOT_MARKER.length).trim());
  }
  return undefined;
}

/** Fires the side's next slot and records when the bot and its container started, relative to the slot. */
async function fireOnce(side: Side, docker: DockerRuntime, warmStartMs: number): Promise<void> {
  const slot = side.service.nextRunAt(side.id)!.getTime();
  // Its warm start (or the slot itself) a moment of real time from now; the timer follows the jump.
  side.clock.jumpTo(slot - warmStartMs, 200);
  const runId = `s${new Date(slot).toISOString().replace(/[-:T]/g, '').slice(0, 14)}`;
  const done = await waitUntil(`${side.label} run ${runId} recorded`, async () => {
    const run = await side.store.getRun(side.id, runId);
    return run && run.status !== 'running' ? run : undefined;
  }, 30_000, 20);
  if (done.status !== 'succeeded') throw new Error(`${side.label} run ${runId} ${done.status}: ${done.reason ?? ''} ${(done.outputTail ?? []).join(' | ')}`);
  const origin = await waitUntil(`${side.label} run ${runId}: the bot's line`, () => botOrigin(side, runId), 10_000, 50);
  // Real times, shifted by the offset in force during this fire.
  side.botStarts.push(origin + side.clock.offsetMs - slot);
  const c = side.starts.get(runId);
  if (c?.startedAt) side.containerStarts.push(Date.parse(c.startedAt) + side.clock.offsetMs - slot);
  await waitUntil(`${side.label} container of ${runId} removed`, async () => ((await docker.list({ botId: side.id })).length === 0 ? true : undefined), 30_000, 20);
}

async function closeSide(side: Side): Promise<void> {
  await side.service.stop();
  await side.store.close();
  await side.events.close();
}

export async function jitterRow(ctx: DockerBench, fires: number): Promise<Row> {
  const dir = await mkdtemp(join(os.tmpdir(), 'berth-bench-sched-'));
  const removeDir = ctx.cleanup.add('files', `remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  const docker = new DockerRuntime({ docker: ctx.docker, instance: ctx.instance });
  const sides: Side[] = [];
  try {
    const warm = await openSide(ctx, docker, dir, 'warm', BENCH_WARM_START_MS);
    sides.push(warm);
    const cold = await openSide(ctx, docker, dir, 'cold', 0);
    sides.push(cold);
    // One warm-up fire each, then alternating.
    await fireOnce(warm, docker, BENCH_WARM_START_MS);
    await fireOnce(cold, docker, 0);
    for (const side of sides) side.botStarts.length = side.containerStarts.length = 0;
    for (let i = 0; i < fires; i++) {
      await fireOnce(warm, docker, BENCH_WARM_START_MS);
      await fireOnce(cold, docker, 0);
      if (i % 10 === 9) ctx.say(`schedule jitter: ${i + 1}/${fires} fires of each`);
    }
    return jitterResult(warm, cold);
  } finally {
    for (const side of sides) await closeSide(side);
    await docker.close();
    await removeDir();
  }
}

function jitterResult(warm: Side, cold: Side): Row {
  const p50 = median(warm.botStarts);
  const p99 = percentile(warm.botStarts, 99);
  const coldP50 = median(cold.botStarts);
  return {
    ...JITTER_ROW,
    result: `warm start: p50 ${ms(p50)}, p99 ${ms(p99)}, max ${ms(max(warm.botStarts))} over ${warm.botStarts.length} fires`,
    sideBySide: `container started at the slot: p50 ${ms(coldP50)}, p99 ${ms(percentile(cold.botStarts, 99))}; ratio ${ratio(p50 / coldP50)}`,
    verdict: verdict(p99 <= GOAL_P99_MS),
    details: [
      `every-minute schedule on the real ScheduleService (SQLite store, Docker runtime, the bot image's daemon, real timers); the clock jumps between fires so each warm start (or slot) comes ~0.2 s after the previous run was recorded; warm and cold fires alternate.`,
      `jitter = when the bot's Node process began (its performance.timeOrigin, printed as its only line and read from the shipped logs) − the slot instant.`,
      `warm: warmStartMs ${BENCH_WARM_START_MS} (default 5 000): Docker's StartedAt − slot p50 ${ms(median(warm.containerStarts))}; the daemon's init runs before the slot and it starts the bot at the slot.`,
      `cold (warmStartMs 0): Docker's StartedAt − slot p50 ${ms(median(cold.containerStarts))}; the rest up to the bot's start is the daemon's init (code, state, entrypoint).`,
    ],
    figures: {
      fires: warm.botStarts.length,
      warmStartMs: BENCH_WARM_START_MS,
      p50Ms: round(p50, 1),
      p99Ms: round(p99, 1),
      maxMs: round(max(warm.botStarts), 1),
      coldP50Ms: round(coldP50, 1),
      coldP99Ms: round(percentile(cold.botStarts, 99), 1),
      warmContainerStartP50Ms: round(median(warm.containerStarts), 1),
      coldContainerStartP50Ms: round(median(cold.containerStarts), 1),
      samplesMs: warm.botStarts.map((j) => round(j, 1)),
      coldSamplesMs: cold.botStarts.map((j) => round(j, 1)),
      goalP99Ms: GOAL_P99_MS,
    },
  };
}

function gcFunction(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** A runtime with nothing on it: the memory row never fires a run. */
const idleRuntime: ContainerRuntime = {
  name: 'idle',
  objectAccess: 'host',
  containerName: (botId, runId) => containerNameFor(DEFAULT_INSTANCE, botId, runId),
  ping: async () => undefined,
  list: async () => [],
  start: async () => {
    throw new Error('the memory row never starts runs');
  },
  stop: async () => undefined,
  remove: async () => undefined,
  tail: async () => [],
  wait: async () => 0,
  watch: () => ({ stop: () => undefined }),
  close: async () => undefined,
};

export async function schedulerMemoryRow(cleanup: Cleanup, say: (line: string) => void, schedules: number): Promise<Row> {
  const dir = await mkdtemp(join(os.tmpdir(), 'berth-bench-schedmem-'));
  const removeDir = cleanup.add('files', `remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  const store = new SqliteStore(join(dir, 'berth.db'));
  const objects = new FsObjectStore(join(dir, 'objects'));
  await objects.init();
  const events = new MemoryEventBus();
  const gc = gcFunction();
  try {
    // Spread over the hour so the stored slots differ; none fires during the measurement.
    for (let i = 0; i < schedules; i++) await store.writeBot(scheduledBot(`mem-${String(i).padStart(4, '0')}`, `${i % 60} ${i % 24} 1 1 *`), 0);
    say(`scheduler memory: ${schedules} scheduled bots stored`);
    gc();
    gc();
    const before = process.memoryUsage();
    const service = new ScheduleService({ store, objects, events, runtime: idleRuntime, image: 'bench', networkMode: 'none' });
    const loadStarted = performance.now();
    await service.start();
    const loadMs = performance.now() - loadStarted;
    gc();
    gc();
    const after = process.memoryUsage();
    const held = service.size;
    await service.stop();
    const heapDelta = after.heapUsed - before.heapUsed;
    return {
      ...SCHEDULER_MEMORY_ROW,
      result: `heap +${mib(heapDelta)} (${Math.round(heapDelta / Math.max(1, held))} B per schedule)`,
      sideBySide: `RSS +${mib(after.rss - before.rss)}; load ${ms(loadMs)}`,
      verdict: 'met',
      details: [
        `${held} enabled schedules loaded by one ScheduleService on a SQLite store (start-up: adoption, ${held} reads and claims of the next slot); heap used after two full GCs, minus before. Process RSS includes SQLite's page cache.`,
      ],
      figures: { schedules: held, heapDeltaBytes: heapDelta, bytesPerSchedule: Math.round(heapDelta / Math.max(1, held)), rssDeltaBytes: after.rss - before.rss, loadMs: round(loadMs, 1) },
    };
  } finally {
    await store.close();
    await events.close();
    await removeDir();
  }
}
