/**
 * The standalone `berth-daemon sync` (sidecar setup) and the daemon's idle memory.
 */
import { mkdir, readFile, writeFile, appendFile } from 'node:fs/promises';
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

async function privateDirtyKb(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  return Number(/Private_Dirty:\s+(\d+) kB/.exec(text)![1]);
}

describe.skipIf(process.platform !== 'linux')('daemon memory', () => {
  it('an idle daemon (long-running command with a sleeping bot) stays within 16 MB Private_Dirty', async () => {
    await sb.uploadCode({ 'idle.mjs': 'console.log("idle bot up");\nsetInterval(() => {}, 60_000);\n' });
    const p = await sb.start('bootstrap', sb.env({ [DAEMON_ENV.runtime]: 'nodejs20', [DAEMON_ENV.entrypoint]: 'idle.mjs' }));
    await p.waitForOutput('idle bot up');
    await waitFor('bootstrap.sh to exec the daemon', async () => (await readFile(`/proc/${p.pid}/cmdline`, 'utf8')).includes('berth-daemon.mjs\0run'));
    // Idle = two samples a second apart within 128 kB of each other.
    let last = -1;
    const kb = await waitFor(
      'the daemon memory to settle',
      async () => {
        const now = await privateDirtyKb(p.pid);
        const settled = last >= 0 && Math.abs(now - last) <= 128;
        last = now;
        return settled ? now : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 1000 },
    );
    console.log(`daemon idle Private_Dirty: ${(kb / 1024).toFixed(1)} MB (pid ${p.pid})`);
    expect(kb).toBeLessThanOrEqual(16 * 1024);
  });
});
