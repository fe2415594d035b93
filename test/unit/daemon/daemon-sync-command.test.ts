/**
 * The standalone `berth-daemon sync` (sidecar setup). The daemon's idle memory is measured
 * in bench/ (rows/memory), not asserted here.
 */
import { mkdir, writeFile, appendFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DAEMON_ENV } from '../../../src/domain/daemon-contract.js';
import { waitFor } from '../../support/wait.js';
import { DaemonSandbox } from './harness.js';

let sb: DaemonSandbox;
beforeEach(async () => {
  sb = await DaemonSandbox.create();
});
afterEach(async () => {
  await sb.cleanup();
});

describe('berth-daemon sync', () => {
  it('ships bot.log lines and state changes, then does the final sync when the done file appears', async () => {
    await mkdir(sb.stateDir, { recursive: true });
    await mkdir(path.join(sb.workDir, 'logs'), { recursive: true });
    const p = await sb.start('sync', sb.env({ [DAEMON_ENV.logIntervalMs]: '200' }));
    await appendFile(path.join(sb.workDir, 'logs/bot.log'), 'sidecar line 1\nsidecar line 2\n');
    await waitFor('the first lines shipped', async () => (await sb.logEntries()).filter((e) => e.stream === 'out').length === 2, { timeoutMs: 5000 });

    await writeFile(path.join(sb.stateDir, 'state.json'), '{"v":1}');
    await waitFor('state stored', async () => (await sb.storedState())?.['state.json'] === '{"v":1}', { timeoutMs: 2500 });

    await writeFile(path.join(sb.stateDir, 'state.json'), '{"v":2}');
    await appendFile(path.join(sb.workDir, 'logs/bot.log'), 'last line without newline');
    await writeFile(path.join(sb.workDir, 'done'), '0\n');
    expect(await p.exited).toBe(0);
    expect((await sb.storedState())?.['state.json']).toBe('{"v":2}');
    const out = (await sb.logEntries()).filter((e) => e.stream === 'out').map((e) => e.line);
    expect(out).toEqual(['sidecar line 1', 'sidecar line 2', 'last line without newline']);
  });

  it('stops on SIGTERM with a final sync', async () => {
    await mkdir(sb.stateDir, { recursive: true });
    await mkdir(sb.workDir, { recursive: true });
    const p = await sb.start('sync', sb.env({ [DAEMON_ENV.debounceMs]: '60000', [DAEMON_ENV.maxWaitMs]: '60000' }));
    await p.waitForOutput('sync: watching');
    await writeFile(path.join(sb.stateDir, 'state.json'), '{"on":"sigterm"}');
    p.signal('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.stderr).toContain('sync: SIGTERM received, final sync');
    expect((await sb.storedState())?.['state.json']).toBe('{"on":"sigterm"}');
  });
});
