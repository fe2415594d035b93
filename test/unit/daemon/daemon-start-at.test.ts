/**
 * BERTH_DAEMON_START_AT: a scheduled run's container is started ahead of its slot; the
 * daemon does init (code, state, entrypoint) at once and starts the bot only at the given
 * instant — never before it. A stop that comes while it waits ends the run without ever
 * starting the bot.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DAEMON_ENV, INIT_EXIT, WORK_FILES } from '../../../src/domain/daemon-contract.js';
import { DaemonSandbox } from './harness.js';

const BOT = { 'index.mjs': 'console.log(`bot started at ${Date.now()}`);\n' };

let sb: DaemonSandbox;
beforeEach(async () => {
  sb = await DaemonSandbox.create();
  await sb.uploadCode(BOT);
});
afterEach(async () => {
  await sb.cleanup();
});

const envAt = (startAt: string): Record<string, string> =>
  sb.env({ [DAEMON_ENV.runtime]: 'nodejs20', [DAEMON_ENV.entrypoint]: 'index.mjs', [DAEMON_ENV.kind]: 'scheduled', [DAEMON_ENV.runId]: 'r1', [DAEMON_ENV.startAt]: startAt });

describe('start at a given instant', () => {
  it('is ready before the instant and starts the bot at it, not before', async () => {
    const startAt = Date.now() + 1500;
    const p = await sb.start('bootstrap', envAt(String(startAt)));
    await p.waitForOutput(/ready; the bot starts at/);
    expect(p.stdout + p.stderr).not.toMatch(/bot started at/);
    expect(await p.exited).toBe(0);
    const botStartedAt = Number(/bot started at (\d+)/.exec(p.stdout)?.[1]);
    expect(botStartedAt).toBeGreaterThanOrEqual(startAt);
    expect(await readFile(path.join(sb.workDir, WORK_FILES.done), 'utf8')).toBe('0\n');
  });

  it('an instant in the past starts the bot at once', async () => {
    const p = await sb.start('bootstrap', envAt(String(Date.now() - 60_000)));
    expect(await p.exited).toBe(0);
    expect(p.stdout).toMatch(/bot started at \d+/);
    expect(p.stdout + p.stderr).not.toMatch(/ready; the bot starts at/);
  });

  it('SIGTERM while waiting: the bot never starts, exit 143, the done file and the logs say so', async () => {
    const p = await sb.start('bootstrap', envAt(String(Date.now() + 60_000)));
    await p.waitForOutput(/ready; the bot starts at/);
    p.signal('SIGTERM');
    expect(await p.exited).toBe(143);
    expect(p.stdout).not.toMatch(/bot started at/);
    expect(await readFile(path.join(sb.workDir, WORK_FILES.done), 'utf8')).toBe('143\n');
    const lines = (await sb.logEntries()).map((e) => e.line);
    expect(lines.some((l) => /before the start time: the bot was not started/.test(l))).toBe(true);
  });

  it('a malformed instant is a settings failure naming the variable', async () => {
    const p = await sb.start('bootstrap', envAt('soon'));
    expect(await p.exited).toBe(INIT_EXIT.badSettings);
    expect(p.stderr).toMatch(new RegExp(DAEMON_ENV.startAt));
  });
});
