/**
 * Stopping and removing process-runtime containers, with real processes: SIGTERM reaches
 * the container's main process within the grace period, SIGKILL ends the whole process
 * group after it, and remove leaves neither a directory nor a process behind.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSameProcessAlive } from '../../../src/adapters/runtime/process/proc.js';
import { NotFoundError } from '../../../src/domain/errors.js';
import { waitFor } from '../../support/wait.js';
import { fileText, readStatus, sandbox, shellSpec, uniqueName, type Sandbox } from './harness.js';

let sb: Sandbox;
beforeEach(() => {
  sb = sandbox();
});
afterEach(async () => {
  await sb.cleanup();
});

const LOOP = 'while :; do sleep 0.05; done';

describe('ProcessRuntime stop', () => {
  it('delivers SIGTERM to the main process, which ends within the grace period', async () => {
    const rt = sb.runtime();
    const marker = path.join(sb.scratch, 'term');
    const name = uniqueName();
    const c = await rt.start(shellSpec(name, `trap 'echo got-term > ${marker}; exit 0' TERM; echo ready; ${LOOP}`));
    await waitFor('the script to be ready', async () => (await rt.tail(c.id, 5)).includes('ready'));
    const { childPid, childIdentity, shimPid, shimIdentity } = readStatus(sb, name);

    const began = Date.now();
    await rt.stop(c.id, { graceSeconds: 10 });

    expect(Date.now() - began).toBeLessThan(5_000);
    expect(fileText(marker)).toBe('got-term\n');
    const [after] = await rt.list({});
    expect(after).toMatchObject({ id: c.id, state: 'exited', exitCode: 0 });
    expect(isSameProcessAlive(childPid, childIdentity)).toBe(false);
    await waitFor('the shim to exit', () => !isSameProcessAlive(shimPid, shimIdentity));
  });

  it('SIGKILLs the whole process group after the grace period; SIGTERM went to the main process only', async () => {
    const rt = sb.runtime();
    const bgPidFile = path.join(sb.scratch, 'bg.pid');
    const bgTerm = path.join(sb.scratch, 'bg-term');
    const name = uniqueName();
    const script = [
      `sh -c 'trap "echo bg > ${bgTerm}; exit 0" TERM; ${LOOP}' &`,
      `echo $! > ${bgPidFile}`,
      `trap '' TERM`,
      'echo ready',
      LOOP,
    ].join('\n');
    const c = await rt.start(shellSpec(name, script));
    await waitFor('the script to be ready', async () => (await rt.tail(c.id, 5)).includes('ready'));
    const bgPid = Number(fileText(bgPidFile));
    sb.track(bgPid);
    const { childPid, childIdentity } = readStatus(sb, name);

    const began = Date.now();
    await rt.stop(c.id, { graceSeconds: 1 });
    const elapsed = Date.now() - began;

    expect(elapsed).toBeGreaterThanOrEqual(1_000);
    expect(elapsed).toBeLessThan(6_000);
    expect((await rt.list({}))[0]).toMatchObject({ state: 'exited', exitCode: 137 });
    expect(isSameProcessAlive(childPid, childIdentity)).toBe(false);
    await waitFor('the background process to be gone', () => !isSameProcessAlive(bgPid, undefined));
    // Like Docker's init: only the main process is asked to stop; the rest is killed with it.
    expect(fileText(bgTerm)).toBeUndefined();
  });

  it('is idempotent: stopping an exited or unknown container is fine', async () => {
    const rt = sb.runtime();
    const c = await rt.start(shellSpec(uniqueName(), LOOP));
    await rt.stop(c.id, { graceSeconds: 2 });
    await rt.stop(c.id, { graceSeconds: 2 });
    await rt.stop('no-such-container', { graceSeconds: 2 });
    expect((await rt.list({}))[0]).toMatchObject({ state: 'exited' });
  });

  it('stops a container waiting in restart back-off at once', async () => {
    const rt = sb.runtime();
    const name = uniqueName();
    const c = await rt.start(shellSpec(name, 'exit 1'));
    await waitFor('back-off after a few restarts', async () => {
      const [now] = await rt.list({});
      return (now?.restartCount ?? 0) >= 3 && now?.state === 'restarting';
    });
    const began = Date.now();
    await rt.stop(c.id, { graceSeconds: 10 });
    expect(Date.now() - began).toBeLessThan(3_000);
    const [after] = await rt.list({});
    expect(after).toMatchObject({ state: 'exited', exitCode: 1 });
    // No supervisor is left that could restart it.
    const { shimPid, shimIdentity } = readStatus(sb, name);
    await waitFor('the shim to exit', () => !isSameProcessAlive(shimPid, shimIdentity));
    expect((await rt.list({}))[0]?.restartCount).toBe(after!.restartCount);
  });
});

describe('ProcessRuntime remove', () => {
  it('leaves no directory and no process behind, and frees the name', async () => {
    const rt = sb.runtime();
    const bgPidFile = path.join(sb.scratch, 'bg.pid');
    const name = uniqueName();
    const c = await rt.start(shellSpec(name, `sleep 300 & echo $! > ${bgPidFile}; ${LOOP}`));
    await waitFor('the background pid', () => fileText(bgPidFile)?.trim() || undefined);
    const bgPid = Number(fileText(bgPidFile));
    sb.track(bgPid);
    const { childPid, childIdentity, shimPid, shimIdentity } = readStatus(sb, name);
    const dir = path.join(sb.dataDir, sb.instance, name);
    expect(statSync(dir).mode & 0o777).toBe(0o700);

    await rt.remove(c.id);

    expect(existsSync(dir)).toBe(false);
    expect(isSameProcessAlive(shimPid, shimIdentity)).toBe(false);
    expect(isSameProcessAlive(childPid, childIdentity)).toBe(false);
    expect(isSameProcessAlive(bgPid, undefined)).toBe(false);
    expect(await rt.list({})).toEqual([]);
    await expect(rt.tail(c.id, 5)).rejects.toBeInstanceOf(NotFoundError);
    await expect(rt.wait(c.id)).rejects.toBeInstanceOf(NotFoundError);

    await rt.remove(c.id);
    await rt.stop(c.id, { graceSeconds: 1 });

    const again = await rt.start(shellSpec(name, LOOP));
    expect(again.id).not.toBe(c.id);
    await rt.remove(name);
    expect(existsSync(dir)).toBe(false);
  });

  it('cuts short a stop that is still in its grace period', async () => {
    const rt = sb.runtime();
    const name = uniqueName();
    const c = await rt.start(shellSpec(name, `trap '' TERM; echo ready; ${LOOP}`));
    await waitFor('the script to be ready', async () => (await rt.tail(c.id, 5)).includes('ready'));
    const { childPid, childIdentity } = readStatus(sb, name);
    const began = Date.now();
    const stopping = rt.stop(c.id, { graceSeconds: 60 });
    await waitFor('the stop request to be recorded', () => readStatus(sb, name).stopRequested === true);
    await rt.remove(c.id);
    await stopping;
    expect(Date.now() - began).toBeLessThan(10_000);
    expect(isSameProcessAlive(childPid, childIdentity)).toBe(false);
    expect(await rt.list({})).toEqual([]);
  });

  it('removes an exited container', async () => {
    const rt = sb.runtime();
    const c = await rt.start(shellSpec(uniqueName(), 'exit 0', { restartPolicy: 'no' }));
    expect(await rt.wait(c.id)).toBe(0);
    await rt.remove(c.id);
    expect(await rt.list({})).toEqual([]);
  });
});
