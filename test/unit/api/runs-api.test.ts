/**
 * Scheduled bots through the API: deploy validation of the schedule (nothing stored on bad
 * input), next run and last run in ls/inspect, run history, run now (in-process scheduler
 * or, without one, a request on the event bus).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ManualRunner } from '../../../src/core/queries/run-book.js';
import { subjects, type RunRequestedEvent } from '../../../src/domain/events.js';
import { formatLogChunk } from '../../../src/domain/logs.js';
import { objectKeys } from '../../../src/domain/object-keys.js';
import type { Run } from '../../../src/domain/run.js';
import { flushEvents } from '../registry/harness.js';
import { PYTHON_BOT, tarGzBuffer } from '../registry/fixtures.js';
import { openApiHarness, type ApiHarness } from './api-harness.js';

const harnesses: ApiHarness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.close();
});

async function open(scheduler?: ManualRunner): Promise<ApiHarness> {
  const h = await openApiHarness({ ...(scheduler ? { scheduler } : {}) });
  harnesses.push(h);
  return h;
}

async function upload(h: ApiHarness, id: string, entries: Parameters<typeof tarGzBuffer>[0] = PYTHON_BOT) {
  const res = await h.app.inject({ method: 'POST', url: `/v1/bots/${id}/package`, headers: { 'content-type': 'application/gzip' }, payload: await tarGzBuffer(entries) });
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { code: { sha256: string } }).code;
}

function run(botId: string, runId: string, extra: Partial<Run> = {}): Run {
  return { runId, botId, trigger: 'cron', scheduledFor: '2026-03-01T12:00:00.000Z', createdAt: '2026-03-01T12:00:00.010Z', status: 'succeeded', exitCode: 0, ...extra };
}

describe('scheduled bots through the API', () => {
  it('rejects a bad schedule at deploy with an error naming the field, and stores nothing', async () => {
    const h = await open();
    const code = await upload(h, 'sched');
    const before = { bots: await h.store.listBots(), schedule: await h.store.getSchedule('sched') };
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ kind: 'scheduled', schedule: { cron: '* * * * *', timezone: 'Mars/Olympus' } }, 'schedule.timezone', /unknown IANA time zone/],
      [{ kind: 'scheduled', schedule: { cron: '0 * * * * *' } }, 'schedule.cron', /5 fields/],
      [{ kind: 'scheduled', schedule: { cron: '' } }, 'schedule.cron', /must not be empty/],
      [{ kind: 'scheduled', schedule: { cron: '   ' } }, 'schedule.cron', /must not be empty/],
      [{ kind: 'scheduled' }, 'schedule', /required for a scheduled bot/],
      [{ kind: 'scheduled', schedule: { cron: '0 0 30 2 *' } }, 'schedule.cron', /cannot fire/],
      [{ kind: 'scheduled', schedule: { cron: '@fortnightly' } }, 'schedule.cron', /unknown macro/],
      [{ kind: 'scheduled', schedule: { cron: '@daily', overlap: 'queue' } }, 'schedule.overlap', /skip, allow, replace/],
      [{ kind: 'scheduled', schedule: { cron: '@daily', catchUp: 'all' } }, 'schedule.catchUp', /none, latest/],
      [{ kind: 'scheduled', schedule: { cron: '@daily', maxRuntimeSeconds: 0 } }, 'schedule.maxRuntimeSeconds', /./],
    ];
    for (const [body, field, message] of cases) {
      const res = await h.app.inject({ method: 'PUT', url: '/v1/bots/sched', payload: { code, ...body } });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      const issues = (res.json() as { error: { issues: { field: string; message: string }[] } }).error.issues;
      const issue = issues.find((i) => i.field === field);
      expect(issue, `${JSON.stringify(body)} → ${JSON.stringify(issues)}`).toBeDefined();
      expect(issue?.message).toMatch(message);
    }
    expect({ bots: await h.store.listBots(), schedule: await h.store.getSchedule('sched') }).toEqual(before);
    expect(await h.store.listBots()).toEqual([]);
  });

  it('takes the schedule from bot-config.yaml (type: scheduled); a bad one there is named and attributed', async () => {
    const h = await open();
    const config = (schedule: string) => [
      { path: 'bot-config.yaml', body: `name: Nightly report\ntype: scheduled\nruntime: python3.11\nentrypoints:\n  bot: main.py\nschedule: "${schedule}"\n` },
      { path: 'main.py', body: 'def main(bot_id, config):\n    print("ran")\n' },
    ];
    const code = await upload(h, 'the0-sched', config('*/5 * * * *'));
    const created = await h.app.inject({ method: 'PUT', url: '/v1/bots/the0-sched', payload: { code } });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({ bot: { kind: 'scheduled', flavor: 'the0', schedule: { cron: '*/5 * * * *', timezone: 'UTC', overlap: 'skip', catchUp: 'none' } } });

    const bad = await upload(h, 'the0-bad', config('0 0 30 2 *'));
    const refused = await h.app.inject({ method: 'PUT', url: '/v1/bots/the0-bad', payload: { code: bad } });
    expect(refused.statusCode).toBe(400);
    const issues = (refused.json() as { error: { issues: { field: string; message: string }[] } }).error.issues;
    expect(issues.find((i) => i.field === 'schedule.cron')?.message).toMatch(/cannot fire.*bot-config\.yaml/);
    expect(await h.store.getBot('the0-bad')).toBeNull();
  });

  it('shows next run and last run in ls and inspect; lists runs newest first; one run by id', async () => {
    const h = await open();
    const code = await upload(h, 'nightly');
    const put = await h.app.inject({ method: 'PUT', url: '/v1/bots/nightly', payload: { code, kind: 'scheduled', schedule: { cron: '30 2 * * *', timezone: 'Europe/Berlin' } } });
    expect(put.statusCode, put.body).toBe(201);
    await h.store.advanceSchedule(null, { botId: 'nightly', nextRunAt: '2026-03-29T01:30:00.000Z', basis: '30 2 * * *|Europe/Berlin' });
    await h.store.writeRun(run('nightly', 's20260327013000', { createdAt: '2026-03-27T01:30:00.010Z' }));
    await h.store.writeRun(run('nightly', 's20260328013000', { createdAt: '2026-03-28T01:30:00.010Z', status: 'failed', exitCode: 2 }));

    const ls = (await h.app.inject({ url: '/v1/bots' })).json() as { bots: { bot: { id: string }; state: string; schedule?: { nextRunAt: string; lastRun: Run } }[] };
    expect(ls.bots[0]).toMatchObject({ state: 'scheduled', schedule: { nextRunAt: '2026-03-29T01:30:00.000Z', lastRun: { runId: 's20260328013000', status: 'failed' } } });
    const inspect = (await h.app.inject({ url: '/v1/bots/nightly' })).json() as { schedule: { nextRunAt: string } };
    expect(inspect.schedule.nextRunAt).toBe('2026-03-29T01:30:00.000Z');
    // A newer skipped slot has no exit code: lastExit is the newest run that has one.
    await h.store.writeRun(run('nightly', 's20260329013000', { createdAt: '2026-03-29T01:30:00.010Z', status: 'skipped', exitCode: undefined }));
    const skipped = (await h.app.inject({ url: '/v1/bots' })).json() as { bots: { schedule: { lastRun: Run; lastExit: unknown } }[] };
    expect(skipped.bots[0]?.schedule).toMatchObject({ lastRun: { runId: 's20260329013000', status: 'skipped' }, lastExit: { runId: 's20260328013000', exitCode: 2 } });

    const runs = await h.app.inject({ url: '/v1/bots/nightly/runs?limit=10' });
    expect(runs.statusCode).toBe(200);
    expect((runs.json() as { runs: Run[] }).runs.map((r) => r.runId)).toEqual(['s20260329013000', 's20260328013000', 's20260327013000']);
    // What the CLI needs to say why a bot has no runs, read with the bot the route reads anyway.
    expect(runs.json()).toMatchObject({ botId: 'nightly', kind: 'scheduled', enabled: true });
    expect(((await h.app.inject({ url: '/v1/bots/nightly/runs?limit=1' })).json() as { runs: Run[] }).runs).toHaveLength(1);
    expect((await h.app.inject({ url: '/v1/bots/nightly/runs/s20260327013000' })).json()).toMatchObject({ status: 'succeeded' });
    expect((await h.app.inject({ url: '/v1/bots/nightly/runs/s20990101000000' })).statusCode).toBe(404);
    expect((await h.app.inject({ url: '/v1/bots/nightly/runs/BAD..ID' })).statusCode).toBe(400);
    expect((await h.app.inject({ url: '/v1/bots/nightly/runs?limit=0' })).statusCode).toBe(400);
    expect((await h.app.inject({ url: '/v1/bots/nobody/runs' })).statusCode).toBe(404);

    await h.app.inject({ method: 'POST', url: '/v1/bots/nightly/disable' });
    const disabled = (await h.app.inject({ url: '/v1/bots/nightly' })).json() as { state: string; schedule: { nextRunAt: string | null } };
    expect(disabled).toMatchObject({ state: 'disabled', schedule: { nextRunAt: null } });
  });

  it('run now: the in-process scheduler answers with the run (201); live bots are refused (409)', async () => {
    const calls: string[] = [];
    const h = await open({
      async runNow(botId) {
        calls.push(botId);
        return run(botId, 'm202603011200000000abcd', { trigger: 'manual', status: 'running' });
      },
    });
    const code = await upload(h, 'manual');
    await h.app.inject({ method: 'PUT', url: '/v1/bots/manual', payload: { code, kind: 'scheduled', schedule: { cron: '@daily' } } });
    const res = await h.app.inject({ method: 'POST', url: '/v1/bots/manual/run' });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ run: { trigger: 'manual', status: 'running' } });
    expect(calls).toEqual(['manual']);

    const liveCode = await upload(h, 'alive');
    await h.app.inject({ method: 'PUT', url: '/v1/bots/alive', payload: { code: liveCode } });
    expect((await h.app.inject({ method: 'POST', url: '/v1/bots/alive/run' })).statusCode).toBe(409);
    expect((await h.app.inject({ url: '/v1/bots/alive/runs' })).json()).toEqual({ botId: 'alive', kind: 'live', enabled: true, runs: [] });
    expect((await h.app.inject({ method: 'POST', url: '/v1/bots/nobody/run' })).statusCode).toBe(404);
    expect(calls).toEqual(['manual']);
  });

  it('run now without a scheduler in the process publishes the request (202) with the run id', async () => {
    const h = await open();
    const seen: RunRequestedEvent[] = [];
    h.events.subscribe(subjects.anyRunRequested, (_s, payload) => seen.push(payload as RunRequestedEvent));
    const code = await upload(h, 'remote');
    await h.app.inject({ method: 'PUT', url: '/v1/bots/remote', payload: { code, kind: 'scheduled', schedule: { cron: '@daily' } } });
    const res = await h.app.inject({ method: 'POST', url: '/v1/bots/remote/run' });
    expect(res.statusCode, res.body).toBe(202);
    const { requested } = res.json() as { requested: RunRequestedEvent };
    expect(requested.runId).toMatch(/^m\d{17}[0-9a-f]{4}$/);
    await flushEvents(h.events);
    expect(seen).toEqual([requested]);
  });

  it("a run's lines: only the days of its record are listed; without a record every day, and still the lines", async () => {
    const h = await open();
    const code = await upload(h, 'daily');
    await h.app.inject({ method: 'PUT', url: '/v1/bots/daily', payload: { code, kind: 'scheduled', schedule: { cron: '30 1 * * *' } } });
    const runOn = (day: number) => `s202603${String(day).padStart(2, '0')}013000`;
    let seq = 0;
    for (let day = 1; day <= 28; day++) {
      const at = Date.parse(`2026-03-${String(day).padStart(2, '0')}T01:30:05.000Z`);
      const entries = [0, 1].map((i) => ({ time: new Date(at + i).toISOString(), stream: 'out' as const, line: `day ${day} line ${i}`, runId: runOn(day) }));
      await h.objects.put(objectKeys.logChunk('daily', at + 1000, seq++), Buffer.from(formatLogChunk(entries)));
    }
    // The history keeps only the newest runs: the 3rd's record is gone, its lines are not.
    await h.store.writeRun(run('daily', runOn(20), { createdAt: '2026-03-20T01:30:00.010Z', startedAt: '2026-03-20T01:30:01.000Z', finishedAt: '2026-03-20T01:31:00.000Z' }));
    const listed: string[] = [];
    const list = h.objects.list.bind(h.objects);
    h.objects.list = (prefix, signal) => (listed.push(prefix), list(prefix, signal));

    const lines = async (runId: string) => {
      const res = await h.app.inject({ url: `/v1/bots/daily/logs?runId=${runId}` });
      expect(res.statusCode, res.body).toBe(200);
      return (res.json() as { entries: { line: string }[] }).entries.map((e) => e.line);
    };
    expect(await lines(runOn(20))).toEqual(['day 20 line 0', 'day 20 line 1']);
    // The blocks of the run's hours (one spans midnight into the 19th), no whole day, no history.
    expect(listed.length, listed.join(' ')).toBeLessThanOrEqual(3);
    expect(listed.every((p) => /^logs\/daily\/2026-03-(19|20)\/\d{6}$/.test(p)), listed.join(' ')).toBe(true);
    listed.length = 0;
    expect(await lines(runOn(3))).toEqual(['day 3 line 0', 'day 3 line 1']);
    expect(listed.some((p) => p.startsWith('logs/daily/2026-03-03/'))).toBe(true);
    expect((await h.app.inject({ url: `/v1/bots/daily/logs?runId=${runOn(29)}` })).statusCode).toBe(404);
  });
});
