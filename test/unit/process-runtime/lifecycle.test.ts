/**
 * The process runtime's lifecycle with real processes: start, list, conflicts, output,
 * one-shot runs, restarts with back-off, events, and adoption after `berth serve` is
 * SIGKILLed (a real process) or simply replaced by a new ProcessRuntime.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSameProcessAlive } from '../../../src/adapters/runtime/process/proc.js';
import { ConflictError, ValidationError } from '../../../src/domain/errors.js';
import type { ActualContainer, RuntimeEvent } from '../../../src/ports/runtime.js';
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

describe('ProcessRuntime start and list', () => {
  it('starts a running container, lists it with its labels and refuses a second one of that name', async () => {
    const rt = sb.runtime();
    const name = uniqueName();
    const started = await rt.start(shellSpec(name, `echo hello; ${LOOP}`, { botId: 'b1', specHash: 'h-1', kind: 'scheduled', runId: 'r1' }));
    expect(started).toMatchObject({ name, botId: 'b1', kind: 'scheduled', specHash: 'h-1', runId: 'r1', state: 'running', restartCount: 0 });
    expect(started.id).toMatch(/^[0-9a-f]{32}$/);

    expect(await rt.list({})).toEqual([expect.objectContaining({ id: started.id, state: 'running' })]);
    expect(await rt.list({ botId: 'b1' })).toHaveLength(1);
    expect(await rt.list({ botId: 'other' })).toHaveLength(0);
    expect(await rt.list({ kind: 'scheduled' })).toHaveLength(1);
    expect(await rt.list({ kind: 'live' })).toHaveLength(0);
    expect(isSameProcessAlive(readStatus(sb, name).childPid, readStatus(sb, name).childIdentity)).toBe(true);

    await expect(rt.start(shellSpec(name, LOOP))).rejects.toBeInstanceOf(ConflictError);
    await waitFor('its output', async () => (await rt.tail(started.id, 10)).includes('hello'));
    expect(await rt.tail(name, 10)).toEqual(['hello']);
  });

  it('lists only its own instance', async () => {
    const rt = sb.runtime();
    await rt.start(shellSpec(uniqueName(), LOOP));
    const other = sb.runtime({ instance: `${sb.instance}-other` });
    expect(await other.list({})).toEqual([]);
  });

  it('rejects a name that is not a safe single path segment', async () => {
    const rt = sb.runtime();
    await expect(rt.start(shellSpec('../escape', LOOP))).rejects.toBeInstanceOf(ValidationError);
    await expect(rt.start(shellSpec('a/b', LOOP))).rejects.toBeInstanceOf(ValidationError);
  });

  it('runs a restart-policy "no" container once; wait() gives its exit code; output is combined', async () => {
    const rt = sb.runtime();
    const c = await rt.start(shellSpec(uniqueName(), 'echo out; echo err >&2; exit 7', { restartPolicy: 'no' }));
    expect(await rt.wait(c.id)).toBe(7);
    expect(await rt.wait(c.id)).toBe(7);
    const [after] = await rt.list({});
    expect(after).toMatchObject({ state: 'exited', exitCode: 7, restartCount: 0 });
    expect(Date.parse(after!.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(after!.startedAt!));
    expect((await rt.tail(c.id, 10)).sort()).toEqual(['err', 'out']);
  });

  it('wait() honours an abort signal', async () => {
    const rt = sb.runtime();
    const c = await rt.start(shellSpec(uniqueName(), LOOP));
    const controller = new AbortController();
    const waiting = rt.wait(c.id, controller.signal);
    controller.abort(new Error('enough'));
    await expect(waiting).rejects.toThrow('enough');
  });

  it('reports an unusable data directory from ping()', async () => {
    await sb.runtime().ping();
    const broken = sb.runtime({ dataDir: path.join(fileURLToPath(import.meta.url), 'not-a-dir') });
    await expect(broken.ping()).rejects.toMatchObject({ code: 'unavailable' });
  });
});

describe('ProcessRuntime restarts', () => {
  it('restarts a crashing child with doubling back-off and counts the restarts', async () => {
    const rt = sb.runtime();
    const starts = path.join(sb.scratch, 'starts');
    const c = await rt.start(shellSpec(uniqueName(), `date +%s%3N >> ${starts}; exit 3`));
    const seen = new Set<string>();
    const crashed = await waitFor(
      'five restarts',
      async () => {
        const [now] = await rt.list({});
        if (now !== undefined) seen.add(now.state);
        // Between two runs (restarting) the last exit code shows; while running again it does not, as in Docker.
        return now !== undefined && now.restartCount >= 5 && now.state === 'restarting' ? now : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 20 },
    );
    expect(crashed).toMatchObject({ id: c.id, exitCode: 3 });
    expect(seen.has('restarting')).toBe(true);

    const times = fileText(starts)!.trim().split('\n').map(Number);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // Delays of 100, 200, 400, 800 ms: each gap is at least its delay.
    for (const [i, gap] of gaps.slice(0, 4).entries()) expect(gap).toBeGreaterThanOrEqual(100 * 2 ** i - 5);
    expect(gaps[3]!).toBeGreaterThan(gaps[0]! * 3);
  });

  it('emits start, die, restart, stop and destroy events', async () => {
    const rt = sb.runtime();
    const events: RuntimeEvent[] = [];
    const stream = rt.watch((e) => events.push(e));
    const flag = path.join(sb.scratch, 'crashed-once');
    const name = uniqueName();
    const c = await rt.start(shellSpec(name, `if [ -f ${flag} ]; then ${LOOP}; else touch ${flag}; exit 5; fi`, { botId: 'evbot' }));
    await waitFor('the restarted child', async () => (await rt.list({}))[0]?.restartCount === 1 && (await rt.list({}))[0]?.state === 'running');
    await rt.stop(c.id, { graceSeconds: 5 });
    await rt.remove(c.id);
    await waitFor('the destroy event', () => events.some((e) => e.type === 'destroy'));
    stream.stop();
    stream.stop();

    expect(events.map((e) => e.type)).toEqual(['start', 'die', 'restart', 'start', 'die', 'stop', 'destroy']);
    expect(events.every((e) => e.containerId === c.id && e.botId === 'evbot' && e.kind === 'live')).toBe(true);
    expect(events[1]).toMatchObject({ type: 'die', exitCode: 5 });
    expect(events[4]).toMatchObject({ type: 'die', exitCode: 143 });
  });
});

describe('ProcessRuntime adoption', () => {
  it('a new ProcessRuntime adopts running containers; close() never stops them', async () => {
    const first = sb.runtime();
    const name = uniqueName();
    const started = await first.start(shellSpec(name, LOOP));
    await first.close();
    await first.close();
    const { childPid, childIdentity } = readStatus(sb, name);
    expect(isSameProcessAlive(childPid, childIdentity)).toBe(true);

    const second = sb.runtime();
    const events: RuntimeEvent[] = [];
    const stream = second.watch((e) => events.push(e));
    expect(await second.list({})).toEqual([expect.objectContaining({ id: started.id, state: 'running', restartCount: 0 })]);
    await second.stop(started.id, { graceSeconds: 5 });
    expect((await second.list({}))[0]).toMatchObject({ state: 'exited' });
    await waitFor('the die event of the adopted container', () => events.find((e) => e.type === 'die'));
    stream.stop();
  });

  it('containers keep running when the process that started them is SIGKILLed, and are adopted', async () => {
    const name = uniqueName();
    const fixture = fileURLToPath(new URL('./fixtures/serve-side.ts', import.meta.url));
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const serve = spawn(process.execPath, ['--import', tsx, fixture, sb.dataDir, sb.instance, name, LOOP], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    sb.track(serve.pid);
    let output = '';
    serve.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    serve.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const started = await waitFor('the serve side to start its container', () => {
      const line = output.split('\n').find((l) => l.startsWith('{'));
      return line === undefined ? undefined : (JSON.parse(line) as ActualContainer);
    });
    const exited = new Promise((resolve) => serve.once('exit', resolve));
    serve.kill('SIGKILL');
    await exited;

    const { shimPid, shimIdentity, childPid, childIdentity } = readStatus(sb, name);
    expect(isSameProcessAlive(shimPid, shimIdentity)).toBe(true);
    expect(isSameProcessAlive(childPid, childIdentity)).toBe(true);
    const adopter = sb.runtime();
    expect(await adopter.list({})).toEqual([expect.objectContaining({ id: started.id, state: 'running' })]);
    await adopter.remove(started.id);
    expect(isSameProcessAlive(shimPid, shimIdentity)).toBe(false);
    expect(isSameProcessAlive(childPid, childIdentity)).toBe(false);
  });
});
