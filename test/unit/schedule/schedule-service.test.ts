/**
 * Unit tests of the ScheduleService's scheduling logic: the real SQLite store (each
 * service on its own connection to one database file), the real filesystem object store
 * and event bus, an injected clock, and an in-memory runtime written for these tests
 * (support/run-runtime.ts). Docker is covered by test/e2e/scheduled-bots.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WARM_START_MS } from '../../../src/core/schedule-service.js';
import { slotRunId } from '../../../src/core/schedule/run-ids.js';
import { ConflictError } from '../../../src/domain/errors.js';
import { objectKeys } from '../../../src/domain/object-keys.js';
import type { Run } from '../../../src/domain/run.js';
import { waitFor } from '../../support/wait.js';
import { makeBot } from '../core/support/bots.js';
import { scheduledBot, world, type World } from './support/harness.js';

const worlds: World[] = [];
afterEach(async () => {
  for (const w of worlds.splice(0)) await w.cleanup();
});

async function newWorld(start?: string): Promise<World> {
  const w = await world(start);
  worlds.push(w);
  return w;
}

const MINUTE = 60_000;
const at = (iso: string) => Date.parse(iso);

describe('ScheduleService timing and claims', () => {
  it('sleeps until the warm start ahead of the next slot, the bot starts exactly at the slot, the run is recorded in the store and the object store', async () => {
    const w = await newWorld('2026-03-01T11:59:30.000Z');
    await w.put(scheduledBot('tick', { cron: '* * * * *' }));
    w.runtime.behaviour = () => ({ afterMs: 0, code: 0, output: ['hello from the run'] });
    const s = w.service();
    await s.start();
    expect(s.nextRunAt('tick')?.toISOString()).toBe('2026-03-01T12:00:00.000Z');
    expect((await w.store.getSchedule('tick'))?.nextRunAt).toBe('2026-03-01T12:00:00.000Z');
    // One timer for the slot and one for the desired-state resync: no polling in between.
    expect(w.clock.pending()).toBe(2);

    // The container starts WARM_START_MS ahead of the slot; its daemon starts the bot at the slot.
    await w.advance(30_000 - WARM_START_MS - 1);
    expect(w.runtime.starts).toHaveLength(0);
    await w.advance(1);
    expect(w.runtime.starts).toEqual([
      { name: 'berth-tick-s20260301120000', botId: 'tick', runId: 's20260301120000', at: at('2026-03-01T12:00:00Z') - WARM_START_MS, botAt: at('2026-03-01T12:00:00Z') },
    ]);
    expect(s.nextRunAt('tick')?.toISOString()).toBe('2026-03-01T12:01:00.000Z');
    await w.advance(WARM_START_MS - 1);
    expect(await w.runs('tick')).toMatchObject([{ status: 'running' }]);
    await w.advance(1);
    expect(w.runtime.containers.size).toBeLessThanOrEqual(1);
    await w.drained();

    const [run] = await w.runs('tick');
    expect(run).toMatchObject({
      runId: 's20260301120000',
      trigger: 'cron',
      scheduledFor: '2026-03-01T12:00:00.000Z',
      startedAt: '2026-03-01T12:00:00.000Z',
      status: 'succeeded',
      exitCode: 0,
      outputTail: ['hello from the run'],
    });
    expect(run?.finishedAt).toBeDefined();
    const json = JSON.parse(String(await w.objects.get(objectKeys.run('tick', 's20260301120000')))) as Run;
    expect(json).toEqual(run);
    // The container is removed once it has exited and been recorded.
    expect(w.runtime.containers.size).toBe(0);
    expect(s.nextRunAt('tick')?.toISOString()).toBe('2026-03-01T12:01:00.000Z');
    // The spec is a run-once container.
    expect(w.runtime.removes).toHaveLength(1);
  });

  it('warmStartMs 0: the container itself starts exactly at the slot, with no start time for the daemon', async () => {
    const w = await newWorld('2026-03-01T11:59:30.000Z');
    await w.put(scheduledBot('cold', { cron: '* * * * *' }));
    const s = w.service({ warmStartMs: 0 });
    await s.start();
    await w.advance(29_999);
    expect(w.runtime.starts).toHaveLength(0);
    await w.advance(1);
    expect(w.runtime.starts).toEqual([{ name: 'berth-cold-s20260301120000', botId: 'cold', runId: 's20260301120000', at: at('2026-03-01T12:00:00Z') }]);
    await w.drained();
    expect(await w.runs('cold')).toMatchObject([{ status: 'succeeded', startedAt: '2026-03-01T12:00:00.000Z' }]);
  });

  it('a run still going at the warm start: the slot is decided at the slot itself (started cold if it ended, skipped if not)', async () => {
    const w = await newWorld('2026-03-01T11:59:30.000Z');
    await w.put(scheduledBot('busy', { cron: '* * * * *' }));
    // The first run lasts until 2 s before the next slot, inside that slot's warm-start window.
    let first = true;
    w.runtime.behaviour = () => {
      const b = first ? { afterMs: MINUTE - 2_000, code: 0 } : { code: 0 };
      first = false;
      return b;
    };
    const s = w.service();
    await s.start();
    await w.advance(30_000);
    expect(w.runtime.starts.map((x) => x.runId)).toEqual(['s20260301120000']);
    // 12:00:55, the warm start of 12:01: the first run is still going, nothing is started.
    await w.advance(MINUTE - WARM_START_MS);
    expect(w.runtime.starts).toHaveLength(1);
    await w.advance(WARM_START_MS - 1);
    expect(w.runtime.starts).toHaveLength(1);
    // 12:01:00: the first run ended at 12:00:58 and was recorded; the slot starts cold, at once.
    await w.advance(1);
    expect(w.runtime.starts[1]).toEqual({ name: 'berth-busy-s20260301120100', botId: 'busy', runId: 's20260301120100', at: at('2026-03-01T12:01:00Z') });
    // The second run never ends: at 12:01:55 it is still going, so 12:02 is decided at 12:02 and skipped.
    await w.advance(MINUTE);
    expect(w.runtime.starts).toHaveLength(2);
    const runs = await w.runs('busy');
    expect(runs.find((r) => r.runId === 's20260301120200')).toMatchObject({ status: 'skipped', finishedAt: '2026-03-01T12:02:00.000Z' });
    expect(w.runtime.maxActive.get('busy')).toBe(1);
  });

  it('two schedulers on one store over 100 slots: every slot is started exactly once', async () => {
    const w = await newWorld('2026-03-01T11:59:30.000Z');
    await w.put(scheduledBot('pair', { cron: '* * * * *', overlap: 'allow' }));
    const a = w.service();
    const b = w.service();
    await Promise.all([a.start(), b.start()]);
    await w.advance(30_000);
    for (let i = 1; i < 100; i++) {
      await w.advance(MINUTE);
    }
    await w.drained();
    const expected = Array.from({ length: 100 }, (_, i) => slotRunId(new Date(at('2026-03-01T12:00:00Z') + i * MINUTE)));
    const started = w.runtime.starts.map((s) => s.runId);
    expect(started.slice().sort()).toEqual(expected);
    expect(new Set(started).size).toBe(100);
    const runs = await w.runs('pair');
    expect(runs).toHaveLength(100);
    expect(runs.every((r) => r.status === 'succeeded' && r.trigger === 'cron')).toBe(true);
    // Each start happened at its own slot instant.
    for (const s of w.runtime.starts) expect(slotRunId(new Date(s.at))).toBe(s.runId);
  }, 60_000);

  it('a changed schedule recomputes the next run; disable stops firing; enable resumes at the next slot', async () => {
    const w = await newWorld('2026-03-01T11:59:30.000Z');
    await w.put(scheduledBot('chg', { cron: '0 * * * *' }));
    const s = w.service();
    await s.start();
    expect((await w.store.getSchedule('chg'))?.nextRunAt).toBe('2026-03-01T12:00:00.000Z');
    await w.update('chg', { schedule: { cron: '30 12 * * *', timezone: 'Europe/Berlin', overlap: 'skip', catchUp: 'none' } });
    await w.settle();
    // 12:30 Berlin (CET, UTC+1) = 11:30Z: already past today, so tomorrow.
    expect(s.nextRunAt('chg')?.toISOString()).toBe('2026-03-02T11:30:00.000Z');
    expect((await w.store.getSchedule('chg'))?.nextRunAt).toBe('2026-03-02T11:30:00.000Z');

    await w.update('chg', { enabled: false });
    await w.settle();
    expect(s.nextRunAt('chg')).toBeUndefined();
    expect(await w.store.getSchedule('chg')).toBeNull();
    await w.advance(24 * 60 * MINUTE);
    expect(w.runtime.starts).toHaveLength(0);

    await w.update('chg', { enabled: true });
    await w.settle();
    expect(s.nextRunAt('chg')?.toISOString()).toBe('2026-03-03T11:30:00.000Z');
    await w.advance(at('2026-03-03T11:30:00Z') - w.clock.now().getTime());
    expect(w.runtime.starts.map((x) => x.runId)).toEqual(['s20260303113000']);
  });
});

describe('ScheduleService overlap policies', () => {
  it('skip: a run longer than the period makes the next slot a skipped record; never two runs at once', async () => {
    const w = await newWorld('2026-03-01T11:59:30.000Z');
    await w.put(scheduledBot('slow', { cron: '* * * * *' }));
    // Each run takes 90 s: longer than the one-minute period.
    w.runtime.behaviour = () => ({ afterMs: 90_000, code: 0 });
    const s = w.service();
    await s.start();
    await w.advance(30_000); // 12:00 starts
    await w.advance(MINUTE); // 12:01 skipped (12:00 still running)
    await w.advance(MINUTE); // 12:01:30 the first run exits; 12:02 starts
    await w.drained();
    await w.advance(MINUTE); // 12:03 skipped
    await w.drained();
    const runs = (await w.runs('slow')).slice().reverse();
    expect(runs.map((r) => [r.runId, r.status])).toEqual([
      ['s20260301120000', 'succeeded'],
      ['s20260301120100', 'skipped'],
      ['s20260301120200', 'running'],
      ['s20260301120300', 'skipped'],
    ]);
    expect(runs[1]?.reason).toContain('s20260301120000');
    expect(w.runtime.maxActive.get('slow')).toBe(1);
    expect(JSON.parse(String(await w.objects.get(objectKeys.run('slow', 's20260301120100'))))).toMatchObject({ status: 'skipped' });
  });

  it('allow: runs of one bot may overlap', async () => {
    const w = await newWorld('2026-03-01T11:59:30.000Z');
    await w.put(scheduledBot('par', { cron: '* * * * *', overlap: 'allow' }));
    w.runtime.behaviour = () => ({ afterMs: 150_000, code: 0 });
    const s = w.service();
    await s.start();
    await w.advance(30_000);
    await w.advance(MINUTE);
    await w.advance(MINUTE);
    expect(w.runtime.maxActive.get('par')).toBe(3);
  });

  it('replace: the running run is stopped and recorded as replaced, then the new one starts', async () => {
    const w = await newWorld('2026-03-01T11:59:30.000Z');
    await w.put(scheduledBot('rep', { cron: '* * * * *', overlap: 'replace' }));
    w.runtime.behaviour = () => ({});
    const s = w.service();
    await s.start();
    await w.advance(30_000);
    await w.advance(MINUTE);
    await w.drained();
    const runs = (await w.runs('rep')).slice().reverse();
    expect(runs.map((r) => [r.runId, r.status])).toEqual([
      ['s20260301120000', 'failed'],
      ['s20260301120100', 'running'],
    ]);
    expect(runs[0]).toMatchObject({ exitCode: 143 });
    expect(runs[0]?.reason).toContain('replace');
    expect(w.runtime.running('rep').map((c) => c.runId)).toEqual(['s20260301120100']);
  });

  it('a manual run respects the overlap policy and is refused for live and disabled bots', async () => {
    const w = await newWorld('2026-03-01T11:59:30.000Z');
    await w.put(scheduledBot('man', { cron: '0 0 1 1 *' }));
    await w.put(makeBot('alive'));
    await w.put(scheduledBot('off', { cron: '0 0 1 1 *' }, { enabled: false }));
    w.runtime.behaviour = () => ({});
    const s = w.service();
    await s.start();
    const first = await s.runNow('man');
    expect(first).toMatchObject({ trigger: 'manual', status: 'running', scheduledFor: '2026-03-01T11:59:30.000Z' });
    expect(first.runId).toMatch(/^m20260301115930000[0-9a-f]{4}$/);
    const second = await s.runNow('man');
    expect(second).toMatchObject({ trigger: 'manual', status: 'skipped' });
    expect(w.runtime.running('man')).toHaveLength(1);
    await expect(s.runNow('alive')).rejects.toBeInstanceOf(ConflictError);
    await expect(s.runNow('off')).rejects.toBeInstanceOf(ConflictError);
    await expect(s.runNow('nobody')).rejects.toThrow(/no bot/);
  });

  it('a run requested by event (an API process without a scheduler) starts exactly once with two schedulers', async () => {
    const w = await newWorld('2026-03-01T11:59:30.000Z');
    await w.put(scheduledBot('evt', { cron: '0 0 1 1 *', overlap: 'allow' }));
    w.runtime.behaviour = () => ({});
    await Promise.all([w.service().start(), w.service().start()]);
    await w.events.publish('berth.bot.evt.run', { id: 'evt', runId: 'mapi0001', at: w.clock.now().toISOString() });
    await w.settle();
    expect(w.runtime.starts.map((x) => x.runId)).toEqual(['mapi0001']);
    expect((await w.store.getRun('evt', 'mapi0001'))?.trigger).toBe('manual');
  });
});

describe('ScheduleService runs', () => {
  it('a bot that finishes at once: output and exit code in its record, container gone, the next run not blocked', async () => {
    const w = await newWorld('2026-03-01T11:59:30.000Z');
    await w.put(scheduledBot('quick', { cron: '* * * * *' }));
    w.runtime.behaviour = () => ({ afterMs: 0, code: 3, output: ['line 1', 'line 2'] });
    const s = w.service();
    await s.start();
    await w.advance(30_000);
    await w.drained();
    await w.advance(MINUTE);
    await w.drained();
    const runs = await w.runs('quick');
    expect(runs.map((r) => [r.runId, r.status, r.exitCode])).toEqual([
      ['s20260301120100', 'failed', 3],
      ['s20260301120000', 'failed', 3],
    ]);
    expect(runs[0]?.outputTail).toEqual(['line 1', 'line 2']);
    expect(w.runtime.containers.size).toBe(0);
  });

  it('maxRuntimeSeconds: a run that never exits is stopped and marked timed-out', async () => {
    const w = await newWorld('2026-03-01T11:59:30.000Z');
    await w.put(scheduledBot('stuck', { cron: '0 * * * *', maxRuntimeSeconds: 5 }));
    w.runtime.behaviour = () => ({});
    const s = w.service();
    await s.start();
    await w.advance(30_000);
    expect(w.runtime.running('stuck')).toHaveLength(1);
    await w.advance(4_999);
    expect(w.runtime.stops).toHaveLength(0);
    await w.advance(1);
    await w.drained();
    expect(w.runtime.stops).toHaveLength(1);
    const [run] = await w.runs('stuck');
    expect(run).toMatchObject({ status: 'timed-out', exitCode: 143 });
    expect(w.runtime.containers.size).toBe(0);
  });

  it('adopts runs of an earlier process: a running one is watched to the end, a record without a container is lost', async () => {
    const w = await newWorld('2026-03-01T11:59:30.000Z');
    await w.put(scheduledBot('adopt', { cron: '0 0 1 1 *', maxRuntimeSeconds: 60 }));
    w.runtime.behaviour = () => ({});
    const first = w.service();
    await first.start();
    const started = await first.runNow('adopt');
    await first.stop();
    // A record that says running but whose container vanished while no scheduler ran.
    await w.store.writeRun({ ...started, runId: 'mghost', containerName: 'berth-adopt-mghost', createdAt: '2026-03-01T11:00:00.000Z' });
    w.clock.advance(30_000);
    const second = w.service();
    await second.start();
    expect((await w.store.getRun('adopt', 'mghost'))?.status).toBe('lost');
    // The adopted run's time-out counts from its start: 60 s after 11:59:30.
    await w.advance(29_999);
    expect(w.runtime.stops).toHaveLength(0);
    await w.advance(1);
    await w.drained();
    expect((await w.store.getRun('adopt', started.runId))?.status).toBe('timed-out');
  });

  it('a run that ended while no scheduler ran is recorded with the time it ended, not the time a scheduler noticed', async () => {
    const w = await newWorld('2026-03-01T11:59:30.000Z');
    await w.put(scheduledBot('offline', { cron: '0 0 1 1 *' }));
    w.runtime.behaviour = () => ({});
    const first = w.service();
    await first.start();
    const started = await first.runNow('offline');
    await first.stop();
    w.clock.advance(10_000);
    const [container] = w.runtime.running('offline');
    w.runtime.exit(container!.id, 0, ['done']);
    const endedAt = w.clock.now().toISOString();
    w.clock.advance(3_600_000);
    const second = w.service();
    await second.start();
    await w.drained();
    const run = await w.store.getRun('offline', started.runId);
    expect(run).toMatchObject({ status: 'succeeded', exitCode: 0, finishedAt: endedAt });
  });

  it('a slot whose run cannot be started (runtime down) is recorded as failed; the next slot runs', async () => {
    const w = await newWorld('2026-03-01T11:59:30.000Z');
    await w.put(scheduledBot('flaky', { cron: '* * * * *' }));
    const s = w.service();
    await s.start();
    w.runtime.down = true;
    await w.advance(30_000);
    w.runtime.down = false;
    await w.advance(MINUTE);
    await w.drained();
    const runs = (await w.runs('flaky')).slice().reverse();
    expect(runs.map((r) => [r.runId, r.status])).toEqual([
      ['s20260301120000', 'failed'],
      ['s20260301120100', 'succeeded'],
    ]);
    expect(runs[0]?.reason).toMatch(/runtime could not be listed/);
  });

  it('a deleted bot loses its schedule, its running runs and its history', async () => {
    const w = await newWorld('2026-03-01T11:59:30.000Z');
    await w.put(scheduledBot('gone', { cron: '* * * * *' }));
    w.runtime.behaviour = () => ({});
    const s = w.service();
    await s.start();
    await w.advance(30_000);
    expect(w.runtime.running('gone')).toHaveLength(1);
    await w.remove('gone');
    await w.settle();
    await w.drained();
    expect(w.runtime.containers.size).toBe(0);
    expect(w.runtime.stops).toHaveLength(1);
    expect(await w.store.getSchedule('gone')).toBeNull();
    // Its run records go too (the registry waits for that before deleting the bot's objects).
    await waitFor('run records of the removed bot deleted', async () => (await w.runs('gone')).length === 0, { timeoutMs: 5_000, intervalMs: 5 });
    expect(await w.objects.get(objectKeys.run('gone', 's20260301120000'))).toBeNull();
    await w.advance(MINUTE);
    expect(w.runtime.starts).toHaveLength(1);
  });
});

describe('ScheduleService catch-up after the scheduler was down across three slots', () => {
  async function downForThreeSlots(catchUp: 'none' | 'latest') {
    const w = await newWorld('2026-03-01T11:59:30.000Z');
    await w.put(scheduledBot('cu', { cron: '* * * * *', catchUp }));
    const before = w.service();
    await before.start();
    await w.advance(30_000); // 12:00 fires
    await w.drained();
    await before.stop();
    // Down across 12:01, 12:02 and 12:03.
    w.clock.advance(3 * MINUTE + 30_000); // 12:03:30
    const after = w.service();
    await after.start();
    await w.settle();
    await w.drained();
    const afterRestart = (await w.runs('cu')).slice().reverse();
    await w.advance(30_000); // 12:04
    await w.drained();
    return { w, afterRestart, all: (await w.runs('cu')).slice().reverse() };
  }

  it('catch-up none: no run for the missed slots, the next one on time', async () => {
    const { all, w } = await downForThreeSlots('none');
    expect(all.map((r) => [r.runId, r.trigger])).toEqual([
      ['s20260301120000', 'cron'],
      ['s20260301120400', 'cron'],
    ]);
    expect(w.runtime.starts.at(-1)?.at).toBe(at('2026-03-01T12:04:00Z'));
  });

  it('catch-up latest: exactly one run for the missed slots, trigger catch-up, then the next on time', async () => {
    const { all, afterRestart } = await downForThreeSlots('latest');
    expect(afterRestart.map((r) => [r.runId, r.trigger, r.scheduledFor])).toEqual([
      ['s20260301120000', 'cron', '2026-03-01T12:00:00.000Z'],
      ['s20260301120300', 'catch-up', '2026-03-01T12:03:00.000Z'],
    ]);
    expect(all.map((r) => [r.runId, r.trigger])).toEqual([
      ['s20260301120000', 'cron'],
      ['s20260301120300', 'catch-up'],
      ['s20260301120400', 'cron'],
    ]);
  });

  it('catch-up latest runs nothing when the latest missed slot is past the deadline', async () => {
    const w = await newWorld('2026-03-01T11:59:30.000Z');
    await w.put(scheduledBot('late', { cron: '0 * * * *', catchUp: 'latest' }));
    const before = w.service();
    await before.start();
    await before.stop();
    w.clock.advance(3 * 60 * MINUTE); // 14:59:30: the latest missed slot (14:00) is 59.5 min old
    const after = w.service({ catchUpDeadlineMs: 30 * MINUTE });
    await after.start();
    await w.settle();
    expect(w.runtime.starts).toHaveLength(0);
    expect(after.nextRunAt('late')?.toISOString()).toBe('2026-03-01T15:00:00.000Z');
  });
});
