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
import { ConflictError, NotFoundError, UnavailableError } from '../../src/domain/errors.js';
import { LABELS, type ContainerRuntime, type ContainerSpec } from '../../src/ports/runtime.js';
import Docker from 'dockerode';
import { dockerUnavailableReason, ensureTestImage, requireDocker, testDocker } from '../support/image.js';
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

runtimeContract('docker', makeHarness, { precondition: requireDocker });

describe('DockerRuntime (Docker only)', () => {
  let image = '';
  const instance = instanceName();
  let shared: DockerRuntime | undefined;
  let scratch = '';
  let prepError: unknown;

  // The image is built here, under the hook timeout; a failure is rethrown by each test.
  beforeAll(async () => {
    if (await dockerUnavailableReason()) return;
    try {
      image = await ensureTestImage();
    } catch (err) {
      prepError = err;
    }
  });

  afterAll(async () => {
    if (await dockerUnavailableReason()) return;
    await removeInstance(instance);
    await shared?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  /** Skips (or, under BERTH_REQUIRE_DOCKER=1, fails) without an Engine; builds the image once. */
  const ready = async (ctx: TestContext): Promise<DockerRuntime> => {
    await requireDocker(ctx);
    if (prepError || !image) throw prepError ?? new Error('the bot image was not built');
    scratch ||= await mkdtemp(join(tmpdir(), 'berth-rt-docker-'));
    shared ??= new DockerRuntime({ docker: testDocker(), instance });
    return shared;
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
    const runtime = await ready(ctx);
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
    const runtime = await ready(ctx);
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
    const runtime = await ready(ctx);
    const c = await runtime.start(spec({ script: 'ls /sys/class/net; exec sleep 600', networkMode: 'none' }));
    const lines = await waitFor('the interface list', async () => {
      const out = await runtime.tail(c.id, 10);
      return out.length ? out : undefined;
    });
    expect(lines).toEqual(['lo']);
  });

  it('bind mounts: read-only is honoured, read-write is writable', async (ctx) => {
    const runtime = await ready(ctx);
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

  it('a CPU limit above the machine starts, limited to the machine (the Engine refuses more CPUs than it has)', async (ctx) => {
    const runtime = await ready(ctx);
    const { NCPU } = (await testDocker().info()) as { NCPU: number };
    const c = await runtime.start(spec({ script: 'exec sleep 600', cpus: NCPU + 2 }));
    expect(c.state).toBe('running');
    const info = await testDocker().getContainer(c.id).inspect();
    expect(info.HostConfig.NanoCpus).toBe(NCPU * 1e9);
  });

  it('two installations under one instance: neither lists the other\'s containers, a shared bot id is a ConflictError saying so, unlabelled ones are adopted', async (ctx) => {
    await ready(ctx);
    const shared = instanceName();
    const mine = new DockerRuntime({ docker: testDocker(), instance: shared, installation: 'aaaaaaaaaaaaaaaa' });
    const theirs = new DockerRuntime({ docker: testDocker(), instance: shared, installation: 'bbbbbbbbbbbbbbbb' });
    const legacy = new DockerRuntime({ docker: testDocker(), instance: shared });
    try {
      const s = spec({ script: 'exec sleep 600' });
      const c = await theirs.start(s);
      expect(await mine.list({})).toEqual([]);
      expect(await mine.foreignContainers()).toBe(1);
      expect(await theirs.foreignContainers()).toBe(0);
      const err = await mine.start(s).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConflictError);
      expect((err as Error).message).toMatch(/another Berth installation .*own --instance/);
      expect((await theirs.list({})).map((x) => x.id)).toEqual([c.id]);
      // A container made before installations were labelled belongs to whoever lists it.
      const old = await legacy.start(spec({ script: 'exec sleep 600' }));
      expect((await mine.list({})).map((x) => x.id)).toEqual([old.id]);
    } finally {
      await removeInstance(shared);
      await Promise.all([mine.close(), theirs.close(), legacy.close()]);
    }
  });

  it('a name held by another Berth instance (made before names carried the instance): ConflictError naming that instance and what to do', async (ctx) => {
    const runtime = await ready(ctx);
    const otherInstance = instanceName();
    const other = new DockerRuntime({ docker: testDocker(), instance: otherInstance });
    try {
      const s = spec({ script: 'exec sleep 600' });
      await other.start(s);
      const err = await runtime.start(s).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConflictError);
      expect((err as Error).message).toContain(`instance "${otherInstance}"`);
      expect((err as Error).message).toContain(`this one is "${instance}"`);
      expect((err as Error).message).toMatch(/berth rm|another id/);
      expect(await runtime.list({ botId: s.botId })).toEqual([]);
    } finally {
      await removeInstance(otherInstance);
      await other.close();
    }
  });

  it('start with an image that does not exist: NotFoundError naming the image, nothing left behind', async (ctx) => {
    const runtime = await ready(ctx);
    const s = spec({ script: 'true', image: `berth-bot:missing-${randomBytes(3).toString('hex')}` });
    await expect(runtime.start(s)).rejects.toSatisfy((err) => err instanceof NotFoundError && err.message.includes(s.image));
    expect(await runtime.list({ botId: s.botId })).toEqual([]);
  });

  it('start on a network that does not exist: NotFoundError naming the network, not the image', async (ctx) => {
    const runtime = await ready(ctx);
    const network = `berth-no-such-net-${randomBytes(3).toString('hex')}`;
    const s = spec({ script: 'true', networkMode: network });
    await expect(runtime.start(s)).rejects.toSatisfy(
      (err) => err instanceof NotFoundError && err.message.includes(network) && !err.message.includes('berth image build'),
    );
    expect(await runtime.list({ botId: s.botId })).toEqual([]);
  });

  it('a container that is created but cannot start is removed (no orphans)', async (ctx) => {
    const runtime = await ready(ctx);
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
    const runtime = await ready(ctx);
    await expect(runtime.tail(`missing-${randomBytes(4).toString('hex')}`, 5)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('ping and list against an Engine that is not there: UnavailableError("runtime")', async () => {
    const socketPath = join(tmpdir(), `berth-no-engine-${randomBytes(4).toString('hex')}.sock`);
    const nowhere = new DockerRuntime({ docker: new Docker({ socketPath }), instance });
    await expect(nowhere.ping()).rejects.toSatisfy((err) => err instanceof UnavailableError && err.dependency === 'runtime');
    await expect(nowhere.list({})).rejects.toBeInstanceOf(UnavailableError);
    await nowhere.close();
  });

  it('list reports restart counts that follow restarts made while it was cached', async (ctx) => {
    const runtime = await ready(ctx);
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

/**
 * Fake-engine tests: what cannot be provoked on a shared real Engine — its event stream
 * ending (dockerd restarting) — is played by a small HTTP server on a unix socket that
 * answers the four endpoints involved. Everything else above runs on the real Engine.
 */
describe('DockerRuntime event stream and inspect cache (fake-engine tests)', () => {
  interface FakeEngine {
    readonly socket: string;
    readonly eventRequests: URLSearchParams[];
    inspects: number;
    restartCount: number;
    /** Open /events responses, newest last. */
    readonly streams: import('node:http').ServerResponse[];
    close(): Promise<void>;
  }

  const container = {
    Id: 'c0ffee',
    Names: ['/berth-fake'],
    Labels: { [LABELS.managed]: 'true', [LABELS.bot]: 'fake', [LABELS.kind]: 'live', [LABELS.spec]: 'h', [LABELS.instance]: 'fake-instance' },
    State: 'running',
    Created: 1_700_000_000,
  };

  const event = (action: string, timeNano: bigint, extra: Record<string, string> = {}) =>
    `{"Type":"container","Action":"${action}","Actor":{"ID":"c0ffee","Attributes":${JSON.stringify({ ...container.Labels, ...extra })}},"time":${timeNano / 1_000_000_000n},"timeNano":${timeNano}}\n`;

  async function fakeEngine(): Promise<FakeEngine> {
    const { createServer } = await import('node:http');
    const dir = await mkdtemp(join(tmpdir(), 'berth-fake-engine-'));
    const socket = join(dir, 'docker.sock');
    const engine: FakeEngine = {
      socket,
      eventRequests: [],
      inspects: 0,
      restartCount: 0,
      streams: [],
      close: async () => {
        for (const s of engine.streams) s.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await rm(dir, { recursive: true, force: true });
      },
    };
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://engine');
      if (url.pathname === '/_ping') return void res.end('OK');
      if (url.pathname === '/containers/json') {
        res.setHeader('content-type', 'application/json');
        return void res.end(JSON.stringify([container]));
      }
      if (url.pathname === '/containers/c0ffee/json') {
        engine.inspects++;
        res.setHeader('content-type', 'application/json');
        return void res.end(
          JSON.stringify({
            Id: 'c0ffee',
            Name: '/berth-fake',
            Created: '2026-01-01T00:00:00.000000000Z',
            RestartCount: engine.restartCount,
            State: { Status: 'running', ExitCode: 1, StartedAt: '2026-01-01T00:00:01Z', FinishedAt: '2026-01-01T00:00:00.5Z' },
            Config: { Labels: container.Labels },
          }),
        );
      }
      if (url.pathname === '/events') {
        engine.eventRequests.push(url.searchParams);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        engine.streams.push(res);
        return;
      }
      res.statusCode = 404;
      res.end('{"message":"not here"}');
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    return engine;
  }

  let engine: FakeEngine;
  let runtime: DockerRuntime;

  beforeAll(async () => {
    engine = await fakeEngine();
  });

  afterAll(async () => {
    await runtime?.close();
    await engine.close();
  });

  it('events split across chunks arrive once each; after the stream ends it reconnects with since and drops replays', async () => {
    runtime = new DockerRuntime({ docker: new Docker({ socketPath: engine.socket }), instance: 'fake-instance', cacheInspects: false });
    const seen: string[] = [];
    const stream = runtime.watch((e) => seen.push(`${e.type}:${e.exitCode ?? ''}:${e.botId}:${e.kind}`));
    try {
      await waitFor('the first events request', () => engine.streams.length === 1);
      const first = engine.eventRequests[0]!;
      expect(JSON.parse(first.get('filters') ?? '{}')).toMatchObject({
        type: ['container'],
        label: [`${LABELS.managed}=true`, `${LABELS.instance}=fake-instance`],
      });
      const t1 = 1_800_000_000_000_000_000n;
      const t2 = t1 + 5_000_000n;
      const both = event('start', t1) + event('die', t2, { exitCode: '3' });
      const cut = both.length - 20;
      // Half an object in one chunk, the rest with an event that is not Berth's in the next.
      engine.streams[0]!.write(both.slice(0, cut));
      engine.streams[0]!.write(both.slice(cut) + '{"Type":"container","Action":"exec_start: sh","Actor":{"ID":"c0ffee","Attributes":{}}}\n');
      await waitFor('two events', () => seen.length >= 2);
      // dockerd restarts: the stream ends.
      engine.streams[0]!.end();
      await waitFor('a reconnect', () => engine.streams.length === 2, { timeoutMs: 10_000 });
      const since = engine.eventRequests[1]!.get('since') ?? '';
      expect(Number(since)).toBeGreaterThan(Number(t2 / 1_000_000n) / 1000 - 1);
      expect(Number(since)).toBeLessThanOrEqual(Number(t2 / 1_000_000n) / 1000 + 0.001);
      // The Engine replays from `since`: the die again, then something new.
      engine.streams[1]!.write(event('die', t2, { exitCode: '3' }) + event('start', t2 + 1_000_000_000n));
      await waitFor('the new event', () => seen.length >= 3);
      expect(seen).toEqual(['start::fake:live', 'die:3:fake:live', 'start::fake:live']);
    } finally {
      stream.stop();
      stream.stop();
      await runtime.close();
    }
  });

  it('list inspects once while events flow, again after an event, and every time while the stream is down', async () => {
    engine.streams.splice(0).forEach((s) => s.destroy());
    runtime = new DockerRuntime({ docker: new Docker({ socketPath: engine.socket }), instance: 'fake-instance' });
    engine.inspects = 0;
    engine.restartCount = 2;
    const first = (await runtime.list({}))[0];
    expect(first).toMatchObject({ id: 'c0ffee', restartCount: 2, state: 'running' });
    // The Engine says ExitCode 1 for a running container here; that is not a current exit code.
    expect(first?.exitCode).toBeUndefined();
    await waitFor('the cache stream', () => engine.streams.length === 1);
    const afterConnect = engine.inspects;
    await runtime.list({});
    await runtime.list({ kind: 'live' });
    expect(await runtime.list({})).toHaveLength(1);
    // Trusted cache: at most one inspect after connecting, however many lists.
    expect(engine.inspects - afterConnect).toBeLessThanOrEqual(1);

    engine.restartCount = 3;
    const before = engine.inspects;
    engine.streams[0]!.write(event('die', BigInt(Date.now()) * 1_000_000n, { exitCode: '1' }));
    const relisted = await waitFor('the restart count from a fresh inspect', async () => {
      const [c] = await runtime.list({});
      return c?.restartCount === 3 ? c : undefined;
    });
    expect(relisted.id).toBe('c0ffee');
    expect(engine.inspects).toBeGreaterThan(before);

    // The stream breaks: nothing cached is trusted until it is back.
    engine.streams[0]!.destroy();
    await waitFor('the reconnect', () => engine.streams.length === 2, { timeoutMs: 10_000 });
    engine.streams[1]!.destroy();
    engine.restartCount = 4;
    await waitFor('a fresh count while events may be missed', async () => (await runtime.list({}))[0]?.restartCount === 4);
    await runtime.close();
  });
});
