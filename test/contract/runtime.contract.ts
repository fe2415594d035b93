/**
 * Conformance suite of the ContainerRuntime port (DESIGN §2, §5). Every adapter runs it:
 * Docker, local processes, later Kubernetes. It uses `spec.command` with plain `sh`
 * scripts, so it needs neither the daemon nor anything Docker-only: a host-process
 * runtime runs the same scripts on the host.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import type { BotKind } from '../../src/domain/bot.js';
import { ConflictError } from '../../src/domain/errors.js';
import type { ActualContainer, ContainerRuntime, ContainerSpec, RuntimeEvent } from '../../src/ports/runtime.js';
import { waitFor } from '../support/wait.js';

export interface RuntimeHarness {
  readonly runtime: ContainerRuntime;
  /** The command that runs a shell script, e.g. `['sh', '-c', script]`. */
  command(shellScript: string): string[];
  readonly image: string;
  /**
   * A new runtime object on the same instance, as after a restart of the service; the
   * harness closes it in cleanup. Optional: without it the adoption test is skipped.
   */
  reopen?(): Promise<ContainerRuntime>;
  /** Removes whatever the harness created (containers of its instance, temp dirs); closes the runtime. */
  cleanup(): Promise<void>;
}

export interface RuntimeContractOptions {
  /**
   * Called first in every test: may skip it (`ctx.skip(reason)`) when the runtime is not
   * available here, or throw to fail it.
   */
  readonly precondition?: (ctx: TestContext) => Promise<void> | void;
}

/** Long enough for a slow CI machine, short enough that a hang is reported. */
const EVENT_TIMEOUT_MS = 20_000;

/**
 * `make` must return a runtime with an instance name of its own on every call: the
 * isolation test calls it twice.
 */
export function runtimeContract(
  name: string,
  make: () => Promise<RuntimeHarness>,
  options: RuntimeContractOptions = {},
): void {
  describe(`ContainerRuntime contract: ${name}`, () => {
    let h: RuntimeHarness | undefined;
    let makeError: unknown;

    // A failure here is kept and rethrown by each test: a failing hook would only mark the
    // tests skipped, and the precondition decides first whether they are skipped at all.
    beforeAll(async () => {
      try {
        h = await make();
      } catch (err) {
        makeError = err;
      }
    });

    afterEach(async () => {
      if (!h) return;
      for (const c of await h.runtime.list({})) await h.runtime.remove(c.id);
    });

    afterAll(async () => {
      await h?.cleanup();
    });

    /** The harness, after the precondition (which may skip the test). */
    const harness = async (ctx: TestContext): Promise<RuntimeHarness> => {
      await options.precondition?.(ctx);
      if (!h) throw makeError ?? new Error('the runtime harness was not created');
      return h;
    };

    const botId = (): string => `ct-${randomBytes(4).toString('hex')}`;

    const spec = (
      rt: RuntimeHarness,
      script: string,
      overrides: Partial<Pick<ContainerSpec, 'botId' | 'kind' | 'runId' | 'restartPolicy' | 'stopGraceSeconds' | 'env'>> = {},
    ): ContainerSpec => {
      const id = overrides.botId ?? botId();
      const kind: BotKind = overrides.kind ?? 'live';
      const runId = overrides.runId;
      return {
        name: rt.runtime.containerName(id, runId),
        botId: id,
        kind,
        specHash: randomBytes(32).toString('hex'),
        ...(runId ? { runId } : {}),
        image: rt.image,
        env: overrides.env ?? { CONTRACT_GREETING: 'hello' },
        restartPolicy: overrides.restartPolicy ?? (kind === 'live' ? 'always' : 'no'),
        memoryMb: 64,
        cpus: 0.5,
        pids: 64,
        stopGraceSeconds: overrides.stopGraceSeconds ?? 10,
        networkMode: 'none',
        mounts: [],
        command: rt.command(script),
      };
    };

    const listedOne = async (rt: RuntimeHarness, id: string): Promise<ActualContainer | undefined> =>
      (await rt.runtime.list({ botId: id }))[0];

    /** Waits until the container's output contains `line`. */
    const outputContains = (rt: RuntimeHarness, containerId: string, line: string) =>
      waitFor(`output line ${line}`, async () => (await rt.runtime.tail(containerId, 50)).includes(line), {
        timeoutMs: EVENT_TIMEOUT_MS,
      });

    it('start: the container is listed with its labels, kind and spec hash', async (ctx) => {
      const rt = await harness(ctx);
      const s = spec(rt, 'echo up; exec sleep 600');
      const started = await rt.runtime.start(s);
      expect(started).toMatchObject({ name: s.name, botId: s.botId, kind: 'live', specHash: s.specHash });
      expect(started.id).toBeTruthy();
      const listed = await waitFor('the container running', async () => {
        const c = await listedOne(rt, s.botId);
        return c?.state === 'running' ? c : undefined;
      });
      expect(listed).toMatchObject({ id: started.id, name: s.name, botId: s.botId, kind: 'live', specHash: s.specHash, restartCount: 0 });
      expect(listed.runId).toBeUndefined();
      expect(Date.parse(listed.createdAt ?? '')).not.toBeNaN();
    });

    it('start: the environment reaches the command', async (ctx) => {
      const rt = await harness(ctx);
      const s = spec(rt, 'echo "greeting=$CONTRACT_GREETING"; exec sleep 600', { env: { CONTRACT_GREETING: 'hi there' } });
      const c = await rt.runtime.start(s);
      await outputContains(rt, c.id, 'greeting=hi there');
    });

    it('start: a name that is taken gives ConflictError and leaves exactly one container', async (ctx) => {
      const rt = await harness(ctx);
      const s = spec(rt, 'exec sleep 600');
      const first = await rt.runtime.start(s);
      await expect(rt.runtime.start({ ...s, specHash: 'other' })).rejects.toBeInstanceOf(ConflictError);
      const listed = await rt.runtime.list({ botId: s.botId });
      expect(listed.map((c) => c.id)).toEqual([first.id]);
      expect(listed[0]?.specHash).toBe(s.specHash);
    });

    it('stop: SIGTERM reaches the command before the grace period ends', async (ctx) => {
      const rt = await harness(ctx);
      // The trap prints a marker and exits 7: exit code 7 proves the command handled
      // SIGTERM itself (a SIGKILL after the grace period would give 137).
      const s = spec(rt, "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 1 & wait $!; done", {
        restartPolicy: 'no',
        stopGraceSeconds: 20,
      });
      const c = await rt.runtime.start(s);
      await outputContains(rt, c.id, 'ready');
      const began = Date.now();
      await rt.runtime.stop(c.id, { graceSeconds: 20 });
      expect(Date.now() - began).toBeLessThan(15_000);
      expect(await rt.runtime.wait(c.id)).toBe(7);
      expect(await rt.runtime.tail(c.id, 10)).toContain('got-term');
      const listed = await listedOne(rt, s.botId);
      expect(listed?.state).toBe('exited');
      expect(listed?.exitCode).toBe(7);
    });

    it('stop: a command that ignores SIGTERM is killed after the grace period', async (ctx) => {
      const rt = await harness(ctx);
      const s = spec(rt, "trap '' TERM; echo ready; while :; do sleep 1; done", { restartPolicy: 'no', stopGraceSeconds: 1 });
      const c = await rt.runtime.start(s);
      await outputContains(rt, c.id, 'ready');
      await rt.runtime.stop(c.id, { graceSeconds: 1 });
      expect(await rt.runtime.wait(c.id)).toBe(137);
    });

    it('stop: idempotent for a stopped and for an unknown container', async (ctx) => {
      const rt = await harness(ctx);
      const c = await rt.runtime.start(spec(rt, 'exec sleep 600'));
      await rt.runtime.stop(c.id, { graceSeconds: 5 });
      await rt.runtime.stop(c.id, { graceSeconds: 5 });
      await rt.runtime.stop(`missing-${randomBytes(6).toString('hex')}`, { graceSeconds: 1 });
      expect((await listedOne(rt, c.botId))?.state).toBe('exited');
    });

    it('remove: removes a running container; again and for an unknown id is fine', async (ctx) => {
      const rt = await harness(ctx);
      const c = await rt.runtime.start(spec(rt, 'exec sleep 600'));
      await rt.runtime.remove(c.id);
      await rt.runtime.remove(c.id);
      await rt.runtime.remove(`missing-${randomBytes(6).toString('hex')}`);
      expect(await rt.runtime.list({ botId: c.botId })).toEqual([]);
    });

    it('restart policy always: a command that exits 1 is restarted, its restart count rises, its exit code shows', async (ctx) => {
      const rt = await harness(ctx);
      const s = spec(rt, 'echo crashing; exit 1', { restartPolicy: 'always' });
      const c = await rt.runtime.start(s);
      // Between two runs the container is down (restarting) and reports the last exit code.
      const listed = await waitFor(
        'two restarts with exit code 1',
        async () => {
          const found = await listedOne(rt, s.botId);
          return found && found.restartCount >= 2 && found.exitCode === 1 ? found : undefined;
        },
        { timeoutMs: EVENT_TIMEOUT_MS, intervalMs: 20 },
      );
      expect(listed.id).toBe(c.id);
      expect(listed.state).not.toBe('running');
      expect(await rt.runtime.list({ botId: s.botId })).toHaveLength(1);
      await rt.runtime.stop(c.id, { graceSeconds: 1 });
      expect((await listedOne(rt, s.botId))?.state).toBe('exited');
    });

    it('restart policy no: the container stays exited with its exit code', async (ctx) => {
      const rt = await harness(ctx);
      const s = spec(rt, 'echo once; exit 3', { kind: 'scheduled', runId: 'r1', restartPolicy: 'no' });
      const c = await rt.runtime.start(s);
      expect(await rt.runtime.wait(c.id)).toBe(3);
      const listed = await listedOne(rt, s.botId);
      expect(listed).toMatchObject({ id: c.id, state: 'exited', exitCode: 3, restartCount: 0, runId: 'r1', kind: 'scheduled' });
      expect(Date.parse(listed?.finishedAt ?? '')).not.toBeNaN();
    });

    it('wait: resolves with the exit code, also for a container that exited already', async (ctx) => {
      const rt = await harness(ctx);
      const c = await rt.runtime.start(spec(rt, 'sleep 0.3; exit 5', { restartPolicy: 'no' }));
      expect(await rt.runtime.wait(c.id)).toBe(5);
      expect(await rt.runtime.wait(c.id)).toBe(5);
    });

    it('wait: an aborted signal ends the wait', async (ctx) => {
      const rt = await harness(ctx);
      const c = await rt.runtime.start(spec(rt, 'exec sleep 600'));
      const controller = new AbortController();
      const waiting = rt.runtime.wait(c.id, controller.signal);
      controller.abort();
      await expect(waiting).rejects.toThrow();
    });

    it('tail: the last lines of the output, oldest first, stderr included', async (ctx) => {
      const rt = await harness(ctx);
      const script = 'for i in 1 2 3 4 5 6; do echo line-$i; done; echo to-stderr >&2; exit 0';
      const c = await rt.runtime.start(spec(rt, script, { restartPolicy: 'no' }));
      expect(await rt.runtime.wait(c.id)).toBe(0);
      const all = await waitFor('the complete output', async () => {
        const lines = await rt.runtime.tail(c.id, 100);
        return lines.includes('to-stderr') && lines.includes('line-6') ? lines : undefined;
      });
      expect(all.filter((l) => l.startsWith('line-'))).toEqual(['line-1', 'line-2', 'line-3', 'line-4', 'line-5', 'line-6']);
      const last = await rt.runtime.tail(c.id, 2);
      expect(last).toHaveLength(2);
      expect(last).toEqual(all.slice(-2));
      expect(await rt.runtime.tail(c.id, 0)).toEqual([]);
    });

    it('watch: delivers start and die events with bot id, kind and exit code', async (ctx) => {
      const rt = await harness(ctx);
      const events: RuntimeEvent[] = [];
      const stream = rt.runtime.watch((e) => events.push(e));
      try {
        const s = spec(rt, 'sleep 0.5; exit 4', { kind: 'scheduled', runId: 'w1', restartPolicy: 'no' });
        const c = await rt.runtime.start(s);
        const die = await waitFor('a die event', () => events.find((e) => e.type === 'die' && e.containerId === c.id), {
          timeoutMs: EVENT_TIMEOUT_MS,
        });
        expect(die).toMatchObject({ botId: s.botId, kind: 'scheduled', runId: 'w1', exitCode: 4 });
        expect(Date.parse(die.at)).not.toBeNaN();
        const start = events.find((e) => e.type === 'start' && e.containerId === c.id);
        expect(start).toMatchObject({ botId: s.botId, kind: 'scheduled' });
      } finally {
        stream.stop();
        stream.stop();
      }
    });

    it('watch: stop() ends delivery', async (ctx) => {
      const rt = await harness(ctx);
      const events: RuntimeEvent[] = [];
      const stream = rt.runtime.watch((e) => events.push(e));
      const first = await rt.runtime.start(spec(rt, 'exit 0', { restartPolicy: 'no' }));
      await waitFor('the first die event', () => events.some((e) => e.type === 'die' && e.containerId === first.id), {
        timeoutMs: EVENT_TIMEOUT_MS,
      });
      stream.stop();
      // A second watcher proves the later container's events happened; the stopped one must not see them.
      const later: RuntimeEvent[] = [];
      const witness = rt.runtime.watch((e) => later.push(e));
      try {
        const second = await rt.runtime.start(spec(rt, 'exit 0', { restartPolicy: 'no' }));
        await waitFor('the second die event', () => later.some((e) => e.type === 'die' && e.containerId === second.id), {
          timeoutMs: EVENT_TIMEOUT_MS,
        });
        expect(events.some((e) => e.containerId === second.id)).toBe(false);
      } finally {
        witness.stop();
      }
    });

    it('instances are isolated: another instance lists nothing of this one', async (ctx) => {
      const rt = await harness(ctx);
      const c = await rt.runtime.start(spec(rt, 'exec sleep 600'));
      const other = await make();
      try {
        expect(await other.runtime.list({})).toEqual([]);
        expect(await other.runtime.list({ botId: c.botId })).toEqual([]);
        expect((await rt.runtime.list({})).map((x) => x.id)).toEqual([c.id]);
      } finally {
        await other.cleanup();
      }
    });

    it('instances have names of their own: the same bot and run start in both, and twice in neither', async (ctx) => {
      const rt = await harness(ctx);
      const id = botId();
      const live = spec(rt, 'exec sleep 600', { botId: id });
      const run = spec(rt, 'exec sleep 600', { botId: id, kind: 'scheduled', runId: 'r1', restartPolicy: 'no' });
      await rt.runtime.start(live);
      await rt.runtime.start(run);
      const other = await make();
      try {
        const theirs = [
          await other.runtime.start(spec(other, 'exec sleep 600', { botId: id })),
          await other.runtime.start(spec(other, 'exec sleep 600', { botId: id, kind: 'scheduled', runId: 'r1', restartPolicy: 'no' })),
        ];
        expect((await other.runtime.list({ botId: id })).map((c) => c.id).sort()).toEqual(theirs.map((c) => c.id).sort());
        await expect(other.runtime.start(spec(other, 'exec sleep 600', { botId: id }))).rejects.toBeInstanceOf(ConflictError);
        expect(await rt.runtime.list({ botId: id })).toHaveLength(2);
      } finally {
        await other.cleanup();
      }
    });

    it('list: filters by kind and by bot id', async (ctx) => {
      const rt = await harness(ctx);
      const live = await rt.runtime.start(spec(rt, 'exec sleep 600'));
      const run = await rt.runtime.start(spec(rt, 'exec sleep 600', { kind: 'scheduled', runId: 'run-1', restartPolicy: 'no' }));
      const ids = (list: ActualContainer[]) => list.map((c) => c.id).sort();
      expect(ids(await rt.runtime.list({}))).toEqual([live.id, run.id].sort());
      expect(ids(await rt.runtime.list({ kind: 'live' }))).toEqual([live.id]);
      const scheduled = await rt.runtime.list({ kind: 'scheduled' });
      expect(ids(scheduled)).toEqual([run.id]);
      expect(scheduled[0]).toMatchObject({ botId: run.botId, runId: 'run-1', kind: 'scheduled' });
      expect(ids(await rt.runtime.list({ botId: live.botId }))).toEqual([live.id]);
      expect(await rt.runtime.list({ kind: 'scheduled', botId: live.botId })).toEqual([]);
    });

    it('ping answers', async (ctx) => {
      const rt = await harness(ctx);
      await rt.runtime.ping();
    });

    it('close is idempotent and leaves containers running; another runtime object adopts them by label', async (ctx) => {
      const rt = await harness(ctx);
      if (!rt.reopen) ctx.skip('the harness cannot reopen a runtime on the same instance');
      const first = await rt.reopen!();
      const s = spec(rt, 'exec sleep 600');
      const c = await first.start(s);
      await first.close();
      await first.close();
      // rt never saw this container being made: it knows it only through its labels.
      const adopted = await waitFor('the container still running', async () => {
        const found = await listedOne(rt, s.botId);
        return found?.state === 'running' ? found : undefined;
      });
      expect(adopted).toMatchObject({ id: c.id, name: s.name, specHash: s.specHash, kind: 'live' });
    });
  });
}
