/**
 * The runtime conformance suite against the real Docker Engine, plus what only Docker
 * has: the hardening and limits of DESIGN §5 as the Engine reports them, and bind mounts.
 * Skipped with a reason when no Engine answers, unless BERTH_REQUIRE_DOCKER=1.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { DockerRuntime } from '../../src/adapters/runtime/docker/index.js';
import { NotFoundError, UnavailableError } from '../../src/domain/errors.js';
import { LABELS, type ContainerRuntime, type ContainerSpec } from '../../src/ports/runtime.js';
import Docker from 'dockerode';
import { dockerSkipReason, ensureTestImage, testDocker } from '../support/image.js';
import { waitFor } from '../support/wait.js';
import { runtimeContract, type RuntimeHarness } from './runtime.contract.js';

const instanceName = (): string => `test-rt-${randomBytes(4).toString('hex')}`;

/** Removes every container of an instance, whatever runtime object made it. */
async function removeInstance(instance: string): Promise<void> {
  const docker = testDocker();
  const containers = await docker.listContainers({ all: true, filters: { label: [`${LABELS.instance}=${instance}`] } });
  await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
}

async function makeHarness(): Promise<RuntimeHarness> {
  const image = await ensureTestImage();
  const instance = instanceName();
  const runtime = new DockerRuntime({ docker: testDocker(), instance });
  const opened: ContainerRuntime[] = [runtime];
  return {
    runtime,
    image,
    command: (script) => ['sh', '-c', script],
    reopen: async () => {
      const again = new DockerRuntime({ docker: testDocker(), instance });
      opened.push(again);
      return again;
    },
    cleanup: async () => {
      await removeInstance(instance);
      for (const rt of opened) await rt.close();
    },
  };
}

runtimeContract('docker', makeHarness, { skipReason: dockerSkipReason });

describe('DockerRuntime (Docker only)', () => {
  let skip: string | undefined;
  let image = '';
  const instance = instanceName();
  let runtime: DockerRuntime;
  let scratch = '';

  beforeAll(async () => {
    skip = await dockerSkipReason();
    if (skip) return;
    image = await ensureTestImage();
    runtime = new DockerRuntime({ docker: testDocker(), instance });
    scratch = await mkdtemp(join(tmpdir(), 'berth-rt-docker-'));
  });

  afterAll(async () => {
    if (skip) return;
    await removeInstance(instance);
    await runtime.close();
    await rm(scratch, { recursive: true, force: true });
  });

  const ready = (ctx: TestContext): void => {
    if (skip) ctx.skip(skip);
  };

  const spec = (overrides: Partial<ContainerSpec> & { script: string }): ContainerSpec => {
    const botId = `rd-${randomBytes(4).toString('hex')}`;
    const { script, ...rest } = overrides;
    return {
      name: `berth-${botId}`,
      botId,
      kind: 'live',
      specHash: 'h1',
      image,
      env: { SECRET_LOOKING: 'value' },
      restartPolicy: 'always',
      memoryMb: 96,
      cpus: 0.5,
      pids: 77,
      stopGraceSeconds: 12,
      networkMode: 'none',
      mounts: [],
      command: ['sh', '-c', script],
      ...rest,
    };
  };

  it('inspect shows init, no-new-privileges, dropped capabilities, limits, log config, network mode, stop signal', async (ctx) => {
    ready(ctx);
    const s = spec({ script: 'exec sleep 600', networkMode: 'host' });
    const c = await runtime.start(s);
    const info = await testDocker().getContainer(c.id).inspect();
    const host = info.HostConfig;
    expect(host.Init).toBe(true);
    expect(host.SecurityOpt).toContain('no-new-privileges');
    expect(host.CapDrop).toEqual(['ALL']);
    expect([...(host.CapAdd ?? [])].sort()).toEqual(['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'KILL', 'SETGID', 'SETUID']);
    expect(host.Memory).toBe(96 * 1024 * 1024);
    expect(host.MemorySwap).toBe(96 * 1024 * 1024);
    expect(host.NanoCpus).toBe(500_000_000);
    expect(host.PidsLimit).toBe(77);
    expect(host.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } });
    expect(host.NetworkMode).toBe('host');
    expect(host.RestartPolicy?.Name).toBe('always');
    const config = info.Config as typeof info.Config & { StopSignal?: string; StopTimeout?: number };
    expect(config.StopSignal).toBe('SIGTERM');
    expect(config.StopTimeout).toBe(12);
    expect(info.Config.Labels).toMatchObject({
      [LABELS.managed]: 'true',
      [LABELS.bot]: s.botId,
      [LABELS.kind]: 'live',
      [LABELS.spec]: 'h1',
      [LABELS.instance]: instance,
    });
    expect(info.Config.Env).toContain('SECRET_LOOKING=value');
  });

  it('the process in the container has only the granted capabilities and cannot gain more', async (ctx) => {
    ready(ctx);
    const c = await runtime.start(spec({ script: "grep -E '^(CapBnd|CapEff|NoNewPrivs)' /proc/self/status; exec sleep 600" }));
    const lines = await waitFor('the status lines', async () => {
      const out = await runtime.tail(c.id, 10);
      return out.length >= 3 ? out : undefined;
    });
    const field = (name: string) => lines.find((l) => l.startsWith(name))?.split(/\s+/)[1];
    // CHOWN(0) DAC_OVERRIDE(1) FOWNER(3) KILL(5) SETGID(6) SETUID(7)
    const expected = (1n << 0n) | (1n << 1n) | (1n << 3n) | (1n << 5n) | (1n << 6n) | (1n << 7n);
    expect(BigInt(`0x${field('CapBnd:')}`)).toBe(expected);
    expect(BigInt(`0x${field('CapEff:')}`)).toBe(expected);
    expect(field('NoNewPrivs:')).toBe('1');
  });

  it('network mode none leaves only loopback', async (ctx) => {
    ready(ctx);
    const c = await runtime.start(spec({ script: 'ls /sys/class/net; exec sleep 600', networkMode: 'none' }));
    const lines = await waitFor('the interface list', async () => {
      const out = await runtime.tail(c.id, 10);
      return out.length ? out : undefined;
    });
    expect(lines).toEqual(['lo']);
  });

  it('bind mounts: read-only is honoured, read-write is writable', async (ctx) => {
    ready(ctx);
    const ro = join(scratch, `ro-${randomBytes(3).toString('hex')}`);
    const rw = join(scratch, `rw-${randomBytes(3).toString('hex')}`);
    await Promise.all([openDir(ro), openDir(rw)]);
    await writeFile(join(ro, 'given.txt'), 'from the host\n');
    const script = [
      'cat /in/given.txt',
      'if (echo x > /in/new.txt) 2>/dev/null; then echo ro-writable; else echo ro-refused; fi',
      'echo written > /out/result.txt && echo rw-ok',
      'exit 0',
    ].join('; ');
    const c = await runtime.start(
      spec({
        script,
        restartPolicy: 'no',
        mounts: [
          { source: ro, target: '/in', readOnly: true },
          { source: rw, target: '/out', readOnly: false },
        ],
      }),
    );
    expect(await runtime.wait(c.id)).toBe(0);
    const out = await runtime.tail(c.id, 10);
    expect(out).toEqual(['from the host', 'ro-refused', 'rw-ok']);
    expect(await readFile(join(rw, 'result.txt'), 'utf8')).toBe('written\n');
    await expect(readFile(join(ro, 'new.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('start with an image that does not exist: NotFoundError naming the image, nothing left behind', async (ctx) => {
    ready(ctx);
    const s = spec({ script: 'true', image: `berth-bot:missing-${randomBytes(3).toString('hex')}` });
    await expect(runtime.start(s)).rejects.toSatisfy((err) => err instanceof NotFoundError && err.message.includes(s.image));
    expect(await runtime.list({ botId: s.botId })).toEqual([]);
  });

  it('a container that is created but cannot start is removed (no orphans)', async (ctx) => {
    ready(ctx);
    // Created fine, refused by runc at start: a directory cannot be mounted over a file.
    const dir = join(scratch, `over-file-${randomBytes(3).toString('hex')}`);
    await openDir(dir);
    const s = spec({ script: 'true', mounts: [{ source: dir, target: '/etc/passwd', readOnly: true }] });
    await expect(runtime.start(s)).rejects.toThrow(/start container/);
    expect(await runtime.list({ botId: s.botId })).toEqual([]);
    const byName = await testDocker().listContainers({ all: true, filters: { name: [s.name] } });
    expect(byName).toEqual([]);
  });

  it('tail of an unknown container: NotFoundError', async (ctx) => {
    ready(ctx);
    await expect(runtime.tail(`missing-${randomBytes(4).toString('hex')}`, 5)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('ping against an Engine that is not there: UnavailableError("runtime")', async (ctx) => {
    ready(ctx);
    const nowhere = new DockerRuntime({ docker: new Docker({ socketPath: join(scratch, 'no-such.sock') }), instance });
    await expect(nowhere.ping()).rejects.toSatisfy((err) => err instanceof UnavailableError && err.dependency === 'runtime');
    await expect(nowhere.list({})).rejects.toBeInstanceOf(UnavailableError);
    await nowhere.close();
  });

  it('list reports restart counts that follow restarts made while it was cached', async (ctx) => {
    ready(ctx);
    const s = spec({ script: 'sleep 0.3; exit 1' });
    const c = await runtime.start(s);
    const counts: number[] = [];
    await waitFor(
      'the restart count to reach 3 through repeated lists',
      async () => {
        const found = (await runtime.list({ botId: s.botId }))[0];
        if (found) counts.push(found.restartCount);
        return found && found.restartCount >= 3;
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    const truth = await testDocker().getContainer(c.id).inspect();
    expect(truth.RestartCount).toBeGreaterThanOrEqual(3);
    // Never more than the Engine's own count, never going down.
    expect(counts.every((n, i) => i === 0 || n >= counts[i - 1]!)).toBe(true);
  });
});

/** A directory any uid may write to, as the test's command runs as root in the container. */
async function openDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true });
  await chmod(path, 0o777);
}
