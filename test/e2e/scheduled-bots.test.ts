/**
 * Issue 4, must-hold list: scheduled bots end to end through the real `berth serve` and
 * CLI on a real Docker Engine (and on the process runtime, the development fallback) — manual runs (`berth run`), one every-minute schedule, a
 * 50 ms run, a run that never exits under maxRuntimeSeconds, and the example's counter.
 * The scheduling logic itself (DST, claims by two schedulers, catch-up after downtime) is
 * tested with an injected clock in test/unit/schedule/.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BotView } from '../../src/core/queries/status-view.js';
import type { Run } from '../../src/domain/run.js';
import { apiJson, berthCli, berthOk, stopAllBerthProcesses } from '../support/berth-process.js';
import { waitFor } from '../support/wait.js';
import { EXAMPLES, deploy, logLines, runtimeSkipReason, startHarness, storedState, uniqueId, type Harness } from './support.js';

const EXAMPLE = join(EXAMPLES, 'node-scheduled');

async function runs(h: Harness, id: string): Promise<Run[]> {
  const r = await apiJson<{ runs: Run[] }>(h.server.url, `/v1/bots/${id}/runs?limit=100`);
  if (r.status !== 200) throw new Error(`GET runs of ${id}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.runs;
}

async function runNow(h: Harness, id: string): Promise<Run> {
  const out = await berthOk(h.server.url, ['run', id, '--json']);
  const body = JSON.parse(out) as { run?: Run };
  if (!body.run) throw new Error(`berth run ${id} gave no run: ${out}`);
  return body.run;
}

async function finished(h: Harness, id: string, runId: string, timeoutMs = 60_000): Promise<Run> {
  return waitFor(`run ${runId} of ${id} finished`, async () => (await runs(h, id)).find((r) => r.runId === runId && r.status !== 'running'), {
    timeoutMs,
  });
}

async function runContainers(h: Harness, id: string) {
  return (await h.probe.containers(id)).filter((c) => c.kind === 'scheduled');
}

/** The record is written first, then the container removed: wait for the removal. */
async function containersGone(h: Harness, id: string): Promise<void> {
  await waitFor(`run containers of ${id} removed`, async () => (await runContainers(h, id)).length === 0, { timeoutMs: 30_000 });
}

for (const runtime of ['docker', 'process'] as const) {
  describe(`scheduled bots on the ${runtime} runtime`, { timeout: 150_000 }, () => {
    let h: Harness | undefined;
    let skip: string | undefined;
    const everyMinute = uniqueId('minutely');

    beforeAll(async () => {
      skip = await runtimeSkipReason(runtime);
      if (skip) return;
      h = await startHarness(runtime, `sched-${runtime}`, { grace: '2' });
      // Deployed first so that its first slot passes while the other tests run.
      await deploy(h, EXAMPLE, everyMinute, ['--schedule', '* * * * *']);
    }, 300_000);

    afterAll(async () => {
      await h?.close();
      await stopAllBerthProcesses();
    }, 120_000);

    const harness = (ctx: { skip: (note: string) => void }): Harness => {
      if (skip) ctx.skip(skip);
      return h!;
    };

    it('a bot that finishes in 50 ms: output and exit code in its Run record and its logs, container gone, the next run not blocked', async (ctx) => {
      const h = harness(ctx);
      const id = uniqueId('quick');
      await deploy(h, EXAMPLE, id, ['--schedule', '0 0 1 1 *', '--config', '{"work_ms":50}']);
      const first = await runNow(h, id);
      expect(first).toMatchObject({ trigger: 'manual', status: 'running', containerName: h.probe.runtime.containerName(id, first.runId) });
      const done = await finished(h, id, first.runId);
      expect(done).toMatchObject({ status: 'succeeded', exitCode: 0 });
      expect(done.outputTail?.join('\n')).toContain('run 1 done');
      expect(Date.parse(done.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(done.startedAt!));
      // The record is also in the object store, and the run's lines are in its logs.
      const json = await apiJson<Run>(h.server.url, `/v1/bots/${id}/runs/${first.runId}`);
      expect(json.body.status).toBe('succeeded');
      const runLog = await waitFor('the run log', async () => {
        const out = await berthOk(h.server.url, ['logs', id, '--run', first.runId]);
        return out.includes('run 1 done') ? out : undefined;
      });
      expect(runLog).toContain(first.runId);
      await containersGone(h, id);
      // Nothing left over blocks the next run.
      const second = await runNow(h, id);
      expect(second.status).toBe('running');
      expect((await finished(h, id, second.runId)).status).toBe('succeeded');
      expect((await storedState(h, id)).stateJson?.runs).toBe(2);
      const table = await berthOk(h.server.url, ['runs', id]);
      expect(table).toMatch(/RUN\s+TRIGGER\s+SCHEDULED FOR/);
      expect(table).toContain(second.runId);
    });

    it('a bot that never exits, with maxRuntimeSeconds 5: stopped, status timed-out, its state saved by the final sync', async (ctx) => {
      const h = harness(ctx);
      const id = uniqueId('forever');
      await deploy(h, EXAMPLE, id, ['--schedule', '0 0 1 1 *', '--max-runtime', '5', '--config', '{"forever":true}']);
      const run = await runNow(h, id);
      await waitFor('the run container running', async () => (await runContainers(h, id)).some((c) => c.state === 'running'), { timeoutMs: 30_000 });
      const done = await finished(h, id, run.runId, 90_000);
      expect(done.status).toBe('timed-out');
      expect(done.exitCode).not.toBe(0);
      const state = await storedState(h, id);
      expect(state.stateJson).toMatchObject({ runs: 1, stopped: true });
      await containersGone(h, id);
      expect((await logLines(h, id)).some((l) => l.includes('stopped (SIGTERM), state saved'))).toBe(true);
    });

    it('the example counts its runs: the stored counter equals the completed runs; a manual run while one runs is skipped', async (ctx) => {
      const h = harness(ctx);
      const id = uniqueId('count');
      await deploy(h, EXAMPLE, id, ['--schedule', '0 0 1 1 *', '--config', '{"work_ms":3000}']);
      const first = await runNow(h, id);
      // Straight through the API, so that a slow CLI start on a loaded machine cannot outlast the first run.
      const overlapping = await apiJson<{ run: Run }>(h.server.url, `/v1/bots/${id}/run`, { method: 'POST' });
      expect(overlapping.body.run).toMatchObject({ status: 'skipped', trigger: 'manual' });
      await finished(h, id, first.runId);
      for (let i = 0; i < 2; i++) await finished(h, id, (await runNow(h, id)).runId);
      const all = await runs(h, id);
      const completed = all.filter((r) => r.status === 'succeeded').length;
      expect(completed).toBe(3);
      expect((await storedState(h, id)).stateJson?.runs).toBe(completed);
    });

    it('bad schedules are refused at deploy with the field named, nothing stored', async (ctx) => {
      const h = harness(ctx);
      const id = uniqueId('bad');
      for (const [args, field] of [
        [['--schedule', '* * * * *', '--timezone', 'Mars/Olympus'], 'schedule.timezone'],
        [['--schedule', '0 * * * * *'], 'schedule.cron'],
        [['--schedule', ''], 'schedule.cron'],
      ] as const) {
        const r = await berthCli(h.server.url, ['deploy', EXAMPLE, '--id', id, ...args]);
        expect(r.code, r.stderr).not.toBe(0);
        expect(r.stderr).toContain(field);
      }
      expect((await apiJson(h.server.url, `/v1/bots/${id}`)).status).toBe(404);
    });

    it('an every-minute schedule fires on its slot; ls and inspect show the next run', async (ctx) => {
      const h = harness(ctx);
      const ls = await berthOk(h.server.url, ['ls']);
      expect(ls).toMatch(/NEXT RUN/);
      const view = (await apiJson<BotView>(h.server.url, `/v1/bots/${everyMinute}`)).body;
      expect(view.schedule?.nextRunAt).toMatch(/:00\.000Z$/);
      expect(await berthOk(h.server.url, ['inspect', everyMinute])).toMatch(/next run\s+\d{4}-/);
      const run = await waitFor('a cron run', async () => (await runs(h, everyMinute)).find((r) => r.trigger === 'cron' && r.status !== 'running'), {
        timeoutMs: 100_000,
        intervalMs: 500,
      });
      expect(run.status).toBe('succeeded');
      expect(run.scheduledFor).toMatch(/:00\.000Z$/);
      expect(run.runId).toBe(`s${run.scheduledFor.replace(/[-:T]/g, '').slice(0, 14)}`);
      // Warm start: the container may start ahead of the slot, the bot never does.
      expect(Date.parse(run.startedAt!)).toBeGreaterThanOrEqual(Date.parse(run.scheduledFor));
      const entries = await waitFor('the cron run\'s bot lines', async () => {
        const r = await apiJson<{ entries: { time: string; stream: string; line: string }[] }>(
          h.server.url,
          `/v1/bots/${everyMinute}/logs?runId=${run.runId}&tail=1000`,
        );
        return r.body.entries.some((e) => e.stream === 'out') ? r.body.entries : undefined;
      });
      for (const e of entries.filter((x) => x.stream !== 'berth')) expect(Date.parse(e.time)).toBeGreaterThanOrEqual(Date.parse(run.scheduledFor));
    });
  });
}
