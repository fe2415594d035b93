/** The CLI's scheduled-bot pieces, pure: deploy flags → schedule, the runs table, NEXT RUN in ls, inspect lines. */
import { describe, expect, it } from 'vitest';
import { deployRequest, scheduleFromFlags } from '../../../src/cli/commands/deploy.js';
import { runNowMessage } from '../../../src/cli/commands/runs.js';
import { CliError } from '../../../src/cli/errors.js';
import { botsTable, formatNextRun, inspectText, runsTable } from '../../../src/cli/present.js';
import type { BotView } from '../../../src/core/queries/index.js';
import type { Bot, CodeRef } from '../../../src/domain/bot.js';
import type { Run } from '../../../src/domain/run.js';
import { makeBot } from '../core/support/bots.js';

const code: CodeRef = { key: 'code/a/x.tar.gz', sha256: 'x'.repeat(64), size: 1, format: 'tar.gz', version: 'v' };
const now = new Date('2026-03-01T12:00:00.000Z');

function run(extra: Partial<Run> = {}): Run {
  return {
    runId: 's20260301115500',
    botId: 'nightly',
    trigger: 'cron',
    scheduledFor: '2026-03-01T11:55:00.000Z',
    createdAt: '2026-03-01T11:55:00.010Z',
    startedAt: '2026-03-01T11:55:00.200Z',
    finishedAt: '2026-03-01T11:55:02.700Z',
    status: 'succeeded',
    exitCode: 0,
    outputTail: ['working', 'done: 42 rows', ''],
    ...extra,
  };
}

describe('deploy --schedule and its companions', () => {
  it('make a new bot scheduled with the given fields only (the server fills defaults and validates)', () => {
    expect(deployRequest('a', code, { schedule: '*/5 * * * *' }, undefined)).toEqual({ id: 'a', code, kind: 'scheduled', schedule: { cron: '*/5 * * * *' } });
    expect(
      deployRequest('a', code, { schedule: '30 2 * * *', timezone: 'Europe/Berlin', overlap: 'replace', catchUp: 'latest', maxRuntime: '600' }, undefined),
    ).toMatchObject({ kind: 'scheduled', schedule: { cron: '30 2 * * *', timezone: 'Europe/Berlin', overlap: 'replace', catchUp: 'latest', maxRuntimeSeconds: 600 } });
  });

  it('keep the schedule of an existing scheduled bot on a redeploy, companions change just their field', () => {
    const existing = makeBot('a', { kind: 'scheduled', schedule: { cron: '@daily', timezone: 'Europe/Berlin', maxRuntimeSeconds: 60 } });
    expect(deployRequest('a', code, {}, existing)).toMatchObject({ kind: 'scheduled', schedule: existing.schedule });
    expect(scheduleFromFlags({ overlap: 'allow' }, existing)).toEqual({ ...existing.schedule, overlap: 'allow' });
    expect(scheduleFromFlags({ schedule: '@hourly' }, existing)).toEqual({ ...existing.schedule, cron: '@hourly' });
    // A live bot stays live unless --schedule is given.
    expect(deployRequest('a', code, {}, makeBot('a') as Bot)).not.toHaveProperty('schedule');
  });

  it('refuse companions without a cron and a max runtime that is not a whole number of seconds', () => {
    expect(() => scheduleFromFlags({ timezone: 'UTC' }, undefined)).toThrow(CliError);
    expect(() => scheduleFromFlags({ timezone: 'UTC' }, undefined)).toThrow(/--schedule/);
    expect(() => scheduleFromFlags({ schedule: '@daily', maxRuntime: '5m' }, undefined)).toThrow(/--max-runtime/);
    expect(() => scheduleFromFlags({ schedule: '@daily', maxRuntime: '0' }, undefined)).toThrow(/--max-runtime/);
  });
});

describe('presenting scheduled bots', () => {
  it('runs table: newest first as given, duration, status, exit code, the reason or the last output line', () => {
    const text = runsTable('nightly', [run(), run({ runId: 's20260301115000', status: 'skipped', reason: 'run s20260301114500 was still running (overlap: skip)', exitCode: undefined, startedAt: undefined })]);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^RUN\s+TRIGGER\s+SCHEDULED FOR\s+STARTED\s+DURATION\s+STATUS\s+EXIT\s+LAST OUTPUT$/);
    expect(lines[1]).toMatch(/^s20260301115500\s+cron\s+2026-03-01T11:55:00.000Z\s+2026-03-01T11:55:00.200Z\s+2.5s\s+succeeded\s+0\s+done: 42 rows$/);
    expect(lines[2]).toMatch(/skipped\s+-\s+run s20260301114500 was still running/);
    expect(runsTable('nightly', [])).toContain('berth run nightly');
  });

  it('no runs: says why, and points only to commands that work for the bot (berth run refuses live and disabled bots)', () => {
    expect(runsTable('nightly', [], { kind: 'scheduled', enabled: true })).toBe('nightly has no runs yet (`berth run nightly` starts one now).\n');
    expect(runsTable('ticker', [], { kind: 'live', enabled: true })).toBe(
      'ticker is a live bot, and a live bot has no runs (only scheduled bots do): `berth logs ticker` shows its output, `berth inspect ticker` its status.\n',
    );
    expect(runsTable('ticker', [], { kind: 'live', enabled: false })).not.toContain('berth run ');
    expect(runsTable('nightly', [], { kind: 'scheduled', enabled: false })).toBe(
      'nightly has no runs yet and is disabled (`berth enable nightly` lets it run on its schedule; then `berth run nightly` starts one now).\n',
    );
  });

  it('ls shows NEXT RUN only when there are scheduled bots, and the last run exit for them', () => {
    const live: BotView = { bot: makeBot('live'), status: null, state: 'pending' };
    expect(botsTable([live], now)).not.toContain('NEXT RUN');
    const sched: BotView = {
      bot: makeBot('nightly', { kind: 'scheduled', schedule: { cron: '0 * * * *' } }),
      status: null,
      state: 'scheduled',
      schedule: { nextRunAt: '2026-03-01T13:00:00.000Z', lastRun: run({ exitCode: 3, status: 'failed' }) },
    };
    const lines = botsTable([live, sched], now).trimEnd().split('\n');
    expect(lines[0]).toMatch(/AGE\s+NEXT RUN$/);
    expect(lines[2]).toMatch(/^nightly\s.*\sscheduled\s+0\s+3 \(4m ago\)\s.*\sin 1h$/);
    expect(lines[1]).toMatch(/\s-$/);
  });

  it('LAST EXIT (ls) and last exit (inspect) of a scheduled bot: its newest run that exited, also when a newer one was skipped', () => {
    const skipped = run({ runId: 's20260301115900', status: 'skipped', exitCode: undefined, startedAt: undefined, finishedAt: undefined });
    const view: BotView = {
      bot: makeBot('nightly', { kind: 'scheduled', schedule: { cron: '* * * * *' } }),
      status: null,
      state: 'scheduled',
      schedule: { nextRunAt: null, lastRun: skipped, lastExit: { runId: 's20260301115500', exitCode: 0, finishedAt: '2026-03-01T11:55:02.700Z' } },
    };
    expect(botsTable([view], now).trimEnd().split('\n')[1]).toMatch(/\sscheduled\s+0\s+0 \(4m ago\)\s/);
    expect(inspectText(view, now)).toMatch(/^last exit\s+0 \(4m ago\), run s20260301115500$/m);
    // The exit of the last run shown: no run id repeated.
    const exited: BotView = { ...view, schedule: { nextRunAt: null, lastRun: run(), lastExit: { runId: 's20260301115500', exitCode: 0, finishedAt: '2026-03-01T11:55:02.700Z' } } };
    expect(inspectText(exited, now)).toMatch(/^last exit\s+0 \(4m ago\)$/m);
    expect(inspectText({ ...view, schedule: { nextRunAt: null, lastRun: skipped, lastExit: null } }, now)).toMatch(/^last exit\s+-$/m);
    // A server older than lastExit: the newest run's exit, as before.
    expect(inspectText({ ...view, schedule: { nextRunAt: null, lastRun: run({ exitCode: 4 }) } }, now)).toMatch(/^last exit\s+4 \(4m ago\)$/m);
  });

  it('inspect shows the schedule with its policies, the next run and the last run', () => {
    const view: BotView = {
      bot: makeBot('nightly', { kind: 'scheduled', schedule: { cron: '30 2 * * *', timezone: 'Europe/Berlin', maxRuntimeSeconds: 600 } }),
      status: null,
      state: 'scheduled',
      schedule: { nextRunAt: '2026-03-02T01:30:00.000Z', lastRun: run() },
    };
    const text = inspectText(view, now);
    expect(text).toMatch(/schedule\s+30 2 \* \* \* \(Europe\/Berlin\), overlap skip, catch-up none, max 600 s/);
    expect(text).toMatch(/next run\s+2026-03-02T01:30:00.000Z \(in 13h\)/);
    expect(text).toMatch(/last run\s+s20260301115500 succeeded \(exit 0\), cron for 2026-03-01T11:55:00.000Z/);
  });

  it('small helpers', () => {
    expect(formatNextRun(null, now)).toBe('-');
    expect(formatNextRun('2026-03-01T11:59:00.000Z', now)).toBe('now');
    expect(formatNextRun('2026-03-01T12:00:30.000Z', now)).toBe('in 30s');
    expect(runNowMessage(run({ status: 'running' }))).toContain('berth logs nightly --run s20260301115500');
    expect(runNowMessage(run({ status: 'skipped', reason: 'busy' }))).toContain('skipped: busy');
  });
});
