/**
 * When the supervisor is gone — the shim was killed, the machine rebooted, a `berth serve`
 * died between creating a container and starting it — the process runtime must report the
 * container truthfully and must never signal a process that merely reuses a recorded pid.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSameProcessAlive, processIdentity, signalGroup, signalProcess } from '../../../src/adapters/runtime/process/proc.js';
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

function statusFile(name: string): string {
  return path.join(sb.dataDir, sb.instance, name, 'status.json');
}

describe('ProcessRuntime without a shim', () => {
  it('shows a container whose shim was killed as dead; stop() ends the orphaned child and records the exit', async () => {
    const rt = sb.runtime();
    const marker = path.join(sb.scratch, 'term');
    const name = uniqueName();
    const c = await rt.start(shellSpec(name, `trap 'echo got-term > ${marker}; exit 0' TERM; ${LOOP}`));
    const { shimPid, shimIdentity, childPid, childIdentity } = readStatus(sb, name);
    signalProcess(shimPid!, 'SIGKILL');
    await waitFor('the shim to die', () => !isSameProcessAlive(shimPid, shimIdentity));

    expect((await rt.list({}))[0]).toMatchObject({ id: c.id, state: 'dead', exitCode: 255 });
    expect(isSameProcessAlive(childPid, childIdentity)).toBe(true);

    await rt.stop(c.id, { graceSeconds: 5 });
    expect(fileText(marker)).toBe('got-term\n');
    expect(isSameProcessAlive(childPid, childIdentity)).toBe(false);
    expect((await rt.list({}))[0]).toMatchObject({ state: 'exited', exitCode: 143 });
    expect(await rt.wait(c.id)).toBe(143);
  });

  it('never signals a process that reuses a recorded pid (identity mismatch)', async () => {
    const rt = sb.runtime();
    const name = uniqueName();
    const c = await rt.start(shellSpec(name, LOOP));
    // Simulate a reboot: the shim and its child are gone…
    const before = readStatus(sb, name);
    signalProcess(before.shimPid!, 'SIGKILL');
    signalGroup(before.childPid!, 'SIGKILL');
    await waitFor('the old processes to die', () => !isSameProcessAlive(before.childPid, before.childIdentity));
    // …and their pids now belong to an unrelated process.
    const stranger = spawn('sleep', ['300'], { stdio: 'ignore' });
    sb.track(stranger.pid);
    const strangerPid = stranger.pid!;
    const strangerIdentity = processIdentity(strangerPid);
    writeFileSync(
      statusFile(name),
      JSON.stringify({ ...before, state: 'running', shimPid: strangerPid, shimIdentity: 'another-boot/1', childPid: strangerPid, childIdentity: 'another-boot/2' }),
    );

    expect((await rt.list({}))[0]).toMatchObject({ id: c.id, state: 'dead' });
    await rt.stop(c.id, { graceSeconds: 1 });
    expect((await rt.list({}))[0]).toMatchObject({ state: 'exited' });
    await rt.remove(c.id);
    expect(await rt.list({})).toEqual([]);
    expect(isSameProcessAlive(strangerPid, strangerIdentity)).toBe(true);
    stranger.kill('SIGKILL');
  });

  it('lists a container whose shim was never spawned as created, and removes it', async () => {
    const rt = sb.runtime();
    const name = uniqueName();
    const dir = path.join(sb.dataDir, sb.instance, name);
    mkdirSync(dir, { recursive: true });
    const spec = shellSpec(name, LOOP);
    writeFileSync(path.join(dir, 'status.json'), JSON.stringify({ id: 'abc', state: 'created', restartCount: 0, createdAt: new Date().toISOString() }));
    writeFileSync(path.join(dir, 'spec.json'), JSON.stringify({ id: 'abc', instance: sb.instance, spec }));

    expect(await rt.list({})).toEqual([expect.objectContaining({ id: 'abc', state: 'created' })]);
    await rt.stop('abc', { graceSeconds: 1 });
    await rt.remove('abc');
    expect(existsSync(dir)).toBe(false);
  });

  it('is not blocked by the leftovers of a start that was killed half-way', async () => {
    const rt = sb.runtime();
    const name = uniqueName();
    mkdirSync(path.join(sb.dataDir, sb.instance, `.creating-${name}-0000`), { recursive: true });
    expect(await rt.list({})).toEqual([]);
    await rt.start(shellSpec(name, LOOP));
    expect(await rt.list({})).toEqual([expect.objectContaining({ name, state: 'running' })]);
  });

  it('ignores a directory without a spec', async () => {
    const rt = sb.runtime();
    mkdirSync(path.join(sb.dataDir, sb.instance, uniqueName()), { recursive: true });
    expect(await rt.list({})).toEqual([]);
  });
});
