/**
 * Issue 4 rows: fire jitter of the ScheduleService and its memory with 1,000 schedules.
 *
 * Jitter: the real ScheduleService (real SQLite store, filesystem object store, Docker
 * runtime, real timers) fires an every-minute schedule. So that 100 fires do not take 100
 * minutes, its clock is the real clock plus an offset that jumps ahead between fires: each
 * slot arrives about a second after the previous run was recorded, in real time, through
 * the scheduler's own timer. Jitter = the container's StartedAt (Docker's clock, shifted by
 * the same offset) minus the slot instant. The run container runs `sh -c true` instead of
 * the daemon: what is measured is the scheduler's timer, claim and container start, not the
 * bot's own init.
 *
 * Memory: heap used after a full GC with 1,000 enabled schedules loaded, minus before, in
 * this process (the ScheduleService holds each bot record and its stored next slot).
 */
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
import type { ActualContainer, ContainerRuntime, ContainerSpec } from '../../src/ports/runtime.js';
import type { Cleanup } from '../lib/cleanup.js';
import { verdict, type Row } from '../lib/report.js';
import { max, median, mib, ms, percentile, round } from '../lib/stats.js';
import { waitUntil, type DockerBench } from './context.js';

export const JITTER_ROW = { key: 'schedule-jitter', title: '6. scheduled fire jitter (container start − slot)', goal: 'p99 ≤ 250 ms' } as const;
export const SCHEDULER_MEMORY_ROW = { key: 'scheduler-memory', title: '7. scheduler memory, 1,000 schedules', goal: 'reported' } as const;
const GOAL_P99_MS = 250;
const MINUTE = 60_000;

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

/** The Docker runtime, with every run container's command replaced by `sh -c true`. */
function trivialRuns(inner: ContainerRuntime, starts: Map<string, ActualContainer>, calls: Map<string, number>, clock: Clock): ContainerRuntime {
  return Object.assign(Object.create(inner) as ContainerRuntime, {
    start: async (spec: ContainerSpec, signal?: AbortSignal) => {
      if (spec.runId) calls.set(spec.runId, clock.now().getTime());
      const c = await inner.start({ ...spec, command: ['sh', '-c', 'true'] }, signal);
      if (spec.runId) starts.set(spec.runId, c);
      return c;
    },
  });
}

function scheduledBot(id: string, cron: string): Bot {
  const sha = 'b'.repeat(64);
  const spec = parseBotSpec({
    id,
    kind: 'scheduled',
    schedule: { cron },
    runtime: 'nodejs20',
    entrypoint: 'main.mjs',
    code: { key: `code/${id}/${sha}.tar.gz`, sha256: sha, size: 100, format: 'tar.gz', version: 'bench' },
  });
  const at = new Date().toISOString();
  return { ...spec, createdAt: at, updatedAt: at, generation: 1 };
}

export async function jitterRow(ctx: DockerBench, fires: number): Promise<Row> {
  const dir = await mkdtemp(join(os.tmpdir(), 'berth-bench-sched-'));
  const removeDir = ctx.cleanup.add('files', `remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  const store = new SqliteStore(join(dir, 'berth.db'));
  const objects = new FsObjectStore(join(dir, 'objects'));
  await objects.init();
  const events = new MemoryEventBus();
  const clock = new JumpingClock();
  const starts = new Map<string, ActualContainer>();
  const docker = new DockerRuntime({ docker: ctx.docker, instance: ctx.instance });
  const calls = new Map<string, number>();
  const runtime = trivialRuns(docker, starts, calls, clock);
  const id = `jitter-${ctx.tag}`;
  // Start on a whole minute, a second away.
  clock.jumpTo(Math.ceil((Date.now() + 2 * MINUTE) / MINUTE) * MINUTE, 1000);
  await store.writeBot(scheduledBot(id, '* * * * *'), 0);
  const service = new ScheduleService({ store, objects, events, runtime, clock, image: ctx.image, networkMode: 'none', graceSeconds: 2, resyncIntervalMs: 3_600_000 });
  const jitters: number[] = [];
  const decided: number[] = [];
  try {
    await service.start();
    for (let i = 0; i < fires; i++) {
      const slot = service.nextRunAt(id)!.getTime();
      const runId = `s${new Date(slot).toISOString().replace(/[-:T]/g, '').slice(0, 14)}`;
      const done = await waitUntil(`run ${runId} recorded`, async () => {
        const run = await store.getRun(id, runId);
        return run && run.status !== 'running' ? run : undefined;
      }, 30_000, 20);
      const c = starts.get(runId);
      const startedAt = c?.startedAt ?? done.startedAt;
      if (!startedAt) throw new Error(`run ${runId} has no start time`);
      // Docker's StartedAt is real time: shift it by the offset in force during this fire.
      jitters.push(Date.parse(startedAt) + clock.offsetMs - slot);
      decided.push((calls.get(runId) ?? NaN) - slot);
      await waitUntil(`container of ${runId} removed`, async () => ((await docker.list({ botId: id })).length === 0 ? true : undefined), 30_000, 20);
      // The next slot, a second of real time from now; the timer is re-armed by the jump check.
      clock.jumpTo(slot + MINUTE, 1000);
      if (i % 10 === 9) ctx.say(`schedule jitter: ${i + 1}/${fires} fires`);
    }
  } finally {
    await service.stop();
    await docker.close();
    await store.close();
    await events.close();
    await removeDir();
  }
  const p50 = median(jitters);
  const p99 = percentile(jitters, 99);
  return {
    ...JITTER_ROW,
    result: `p50 ${ms(p50)}, p99 ${ms(p99)} over ${jitters.length} fires`,
    sideBySide: `max ${ms(max(jitters))}; scheduler's share (runtime.start called − slot) p50 ${ms(median(decided))}`,
    verdict: verdict(p99 <= GOAL_P99_MS),
    details: [
      `every-minute schedule on the real ScheduleService (SQLite store, Docker runtime, real timers); the clock jumps between fires so each slot comes ~1 s after the previous run was recorded.`,
      `jitter = Docker's StartedAt of the run container − the slot instant; the container runs \`sh -c true\` (the bot's own init is not the scheduler's latency).`,
    ],
    figures: { decidedP50Ms: round(median(decided), 1), decidedP99Ms: round(percentile(decided, 99), 1), fires: jitters.length, p50Ms: round(p50, 1), p99Ms: round(p99, 1), maxMs: round(max(jitters), 1), samplesMs: jitters.map((j) => round(j, 1)), goalP99Ms: GOAL_P99_MS },
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
