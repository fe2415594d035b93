/**
 * Issue "Berth core", must-hold list: live bots end to end through the real `berth serve`
 * and CLI, on a real Docker Engine and on the process runtime; and (issue 3) the same tests,
 * unchanged, with `berth api` and `berth bot-runner` as separate processes over NATS, on the
 * embedded stores and on MongoDB + S3.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { stopAllBerthProcesses } from '../support/berth-process.js';
import { startMongoTestServer, stopAllMongoTestServers, uniqueDatabase } from '../support/mongo-server.js';
import { natsSkipReason, startNatsServer, stopAllNatsServers } from '../support/nats-server.js';
import { startS3Server, stopAllS3Servers } from '../support/s3-server.js';
import { waitFor } from '../support/wait.js';
import {
  EXAMPLES,
  FIXTURES,
  botView,
  counterOf,
  deploy,
  logLines,
  passCount,
  runtimeSkipReason,
  serviceLogFor,
  startHarness,
  storedState,
  uniqueId,
  waitPasses,
  waitRunning,
  watchStateUploads,
  type DeploymentShape,
  type Harness,
  type RuntimeName,
} from './support.js';

const DEBOUNCE_MS = 500;

/**
 * Where the same tests run: one `berth serve` on each runtime, and the seed's service split —
 * `berth api` and `berth bot-runner` as separate processes over NATS (a real nats-server
 * started for the suite), sharing either the embedded stores (SQLite file, objects
 * directory) or the production ones: MongoDB (CongoDB, a wire-protocol server) and S3
 * (s3rver), every process configured by BERTH_STORE / BERTH_OBJECTS / BERTH_EVENTS as in
 * docker-compose.yml. Bots of the S3 shape use the host network: their daemon talks to the
 * S3 server on 127.0.0.1.
 */
type Stack = 'serve' | 'split-embedded' | 'split-production';
interface Deployment {
  readonly runtime: RuntimeName;
  readonly stack: Stack;
}
const DEPLOYMENTS: readonly Deployment[] = [
  { runtime: 'docker', stack: 'serve' },
  { runtime: 'process', stack: 'serve' },
  { runtime: 'docker', stack: 'split-embedded' },
  { runtime: 'docker', stack: 'split-production' },
];
const STACK_TITLES: Record<Stack, string> = {
  serve: '',
  'split-embedded': ', berth api + berth bot-runner over NATS (shared SQLite file and objects directory)',
  'split-production': ', berth api + berth bot-runner on MongoDB (CongoDB) + S3 (s3rver) + NATS',
};

/** The servers a split deployment runs on; disposed after the suite. */
async function splitShape(stack: Exclude<Stack, 'serve'>, servers: Array<{ dispose(): Promise<void> }>): Promise<DeploymentShape> {
  const nats = await startNatsServer();
  servers.push(nats);
  if (stack === 'split-embedded') return { processes: 'split', events: nats.url };
  const mongo = await startMongoTestServer();
  servers.push(mongo);
  const s3 = await startS3Server();
  servers.push(s3);
  const bucket = 'berth';
  return {
    processes: 'split',
    events: nats.url,
    env: { BERTH_STORE: mongo.url(uniqueDatabase('live')), BERTH_OBJECTS: s3.url(bucket) },
    network: 'host',
    objectsDir: join(s3.directory, bucket),
  };
}

for (const { runtime, stack } of DEPLOYMENTS) {
  const shapeName = stack === 'serve' ? runtime : `${runtime}-${stack}`;
  describe(`live bots on the ${runtime} runtime${STACK_TITLES[stack]}`, { timeout: 120_000 }, () => {
    let h: Harness | undefined;
    let skip: string | undefined;
    const servers: Array<{ dispose(): Promise<void> }> = [];

    beforeAll(async () => {
      skip = (await runtimeSkipReason(runtime)) ?? (stack !== 'serve' ? natsSkipReason() : undefined);
      if (skip) return;
      const shape: DeploymentShape = stack === 'serve' ? { processes: 'serve' } : await splitShape(stack, servers);
      // A short interval: more passes give a wrong replacement more chances to show.
      h = await startHarness(runtime, `live-${shapeName}`, { interval: '2s', shape });
    }, 300_000);

    afterAll(async () => {
      await h?.close();
      await stopAllBerthProcesses();
      for (const server of servers.splice(0).reverse()) await server.dispose();
      await stopAllNatsServers();
      await stopAllS3Servers();
      await stopAllMongoTestServers();
    }, 120_000);

    const harness = (ctx: { skip: (note: string) => void }): Harness => {
      if (skip) ctx.skip(skip);
      return h!;
    };

    it('runs the Python and the Node example: logs show their output, the stored counter grows', async (ctx) => {
      const h = harness(ctx);
      const py = uniqueId('py');
      const node = uniqueId('node');
      await deploy(h, join(EXAMPLES, 'python-counter'), py, ['--config', '{"interval_seconds":0.3}']);
      await deploy(h, join(EXAMPLES, 'node-counter'), node, ['--config', '{"interval_seconds":0.3}']);
      // Within one reconcile: the change event starts them, long before the 30 s timer.
      await waitRunning(h, py, 20_000);
      await waitRunning(h, node, 20_000);
      for (const id of [py, node]) {
        await waitFor(`${id} log output`, async () => (await logLines(h, id)).some((l) => /count=\d+/.test(l)), { timeoutMs: 30_000 });
        const first = await waitFor(`${id} stored counter`, () => counterOf(h, id), { timeoutMs: 30_000 });
        await waitFor(`${id} counter growing past ${first}`, async () => ((await counterOf(h, id)) ?? 0) > first, { timeoutMs: 30_000 });
        const cli = await (await import('../support/berth-process.js')).berthOk(h.server.url, ['logs', id, '--tail', '5']);
        expect(cli).toMatch(/count=\d+/);
      }
    });

    it('a killed bot is restarted and continues from its last stored counter, never from zero', async (ctx) => {
      const h = harness(ctx);
      const id = uniqueId('kill');
      await deploy(h, join(EXAMPLES, 'python-counter'), id, ['--config', '{"interval_seconds":0.3}']);
      const before = await waitRunning(h, id);
      const stored = await waitFor('a stored counter ≥ 3', async () => {
        const c = await counterOf(h, id);
        return c !== undefined && c >= 3 ? c : undefined;
      });
      await h.probe.kill(before);
      // Back within seconds: Docker leaves a `docker kill`ed container exited (a manual stop to
      // the Engine), so Berth replaces it; the process runtime's shim restarts it itself.
      await waitFor('running again after kill', async () => {
        const c = await h.probe.running(id);
        return c && (c.id !== before.id || c.restartCount > before.restartCount) ? c : undefined;
      });
      await waitFor('log line of the restarted bot', async () => (await logLines(h, id)).filter((l) => /starting from count=/.test(l)).length >= 2);
      const restartLine = (await logLines(h, id)).filter((l) => /starting from count=/.test(l)).at(-1)!;
      const restoredFrom = Number(/count=(\d+)/.exec(restartLine)![1]);
      expect(restoredFrom).toBeGreaterThanOrEqual(stored);
      expect((await h.probe.containers(id)).length).toBe(1);
    });

    it('a stopped bot gets SIGTERM, saves, and the final sync stores exactly its last write', async (ctx) => {
      const h = harness(ctx);
      const id = uniqueId('stop');
      await deploy(h, join(FIXTURES, 'state-writer'), id, ['--entrypoint', 'bot.mjs', '--config', '{"mode":"rename","count":5}']);
      const c = await waitRunning(h, id);
      await waitFor('writes done', async () => (await logLines(h, id)).some((l) => l.startsWith('done rename')));
      await h.probe.stop(c, 10);
      const saved = await waitFor('state saved on SIGTERM', async () => {
        const s = await storedState(h, id);
        return s.stateJson?.saved === 'on-sigterm' ? s.stateJson : undefined;
      }, { timeoutMs: 15_000 }).catch(async (err: Error) => {
        throw new Error(`${err.message}\nbot log:\n${(await logLines(h, id)).join('\n')}`);
      });
      expect(saved).toEqual({ saved: 'on-sigterm', seq: 5 });
      await waitFor('the bot logged its SIGTERM', async () => (await logLines(h, id)).some((l) => l === 'sigterm saved seq=5'));
    });

    for (const mode of ['rename', 'inplace', 'nested'] as const) {
      it(`state written ${mode === 'nested' ? 'in a nested directory' : mode === 'inplace' ? 'in place' : 'by temp-then-rename'} is stored within debounce + 2 s`, async (ctx) => {
        const h = harness(ctx);
        const id = uniqueId(mode);
        await deploy(h, join(FIXTURES, 'state-writer'), id, ['--entrypoint', 'bot.mjs', '--config', JSON.stringify({ mode, count: 3, intervalMs: 50 })]);
        await waitRunning(h, id);
        const doneAt = await waitFor('writes done', async () => ((await logLines(h, id)).some((l) => l.startsWith(`done ${mode}`)) ? Date.now() : undefined), { intervalMs: 50 });
        await waitFor(`final ${mode} value stored`, async () => {
          const s = await storedState(h, id);
          if (mode === 'nested') return s.files.some((f) => f.path === 'deep/er/nested.json');
          return s.stateJson?.seq === 3;
        }, { timeoutMs: DEBOUNCE_MS + 2000 + Math.max(0, doneAt - Date.now()) + 1000, intervalMs: 50 });
        if (mode === 'nested') {
          // The nested file's content is the last write, read back through the object store.
          const s = await storedState(h, id);
          expect(s.files.map((f) => f.path)).toContain('deep/er/nested.json');
        }
      });
    }

    it('a burst of 200 writes: the final value is stored and only a few uploads happen', async (ctx) => {
      const h = harness(ctx);
      const id = uniqueId('burst');
      const uploads = await watchStateUploads(h, id);
      try {
        await deploy(h, join(FIXTURES, 'state-writer'), id, ['--entrypoint', 'bot.mjs', '--config', '{"mode":"burst","count":200}']);
        await waitRunning(h, id);
        await waitFor('burst done', async () => (await logLines(h, id)).some((l) => l.startsWith('done burst')));
        await waitFor('seq 200 stored', async () => (await storedState(h, id)).stateJson?.seq === 200, { timeoutMs: DEBOUNCE_MS + 2000 + 2000 });
        expect(uploads.count()).toBeGreaterThanOrEqual(1);
        expect(uploads.count()).toBeLessThanOrEqual(5);
      } finally {
        uploads.close();
      }
    });

    it('a state.json that does not parse is not uploaded; the last good state stays', async (ctx) => {
      const h = harness(ctx);
      const id = uniqueId('invalid');
      await deploy(h, join(FIXTURES, 'state-writer'), id, ['--entrypoint', 'bot.mjs', '--config', '{"mode":"invalid","count":1,"pauseMs":1500}']);
      await waitRunning(h, id);
      await waitFor('good state stored', async () => (await storedState(h, id)).stateJson?.good === true);
      await waitFor('bad write done', async () => (await logLines(h, id)).some((l) => l.startsWith('done invalid')));
      // The daemon says why it did not save; by then it has seen the bad file.
      await waitFor('daemon reports the unparsable state', async () => (await logLines(h, id)).some((l) => /state\.json.*not saved|not saved.*state\.json|state not saved/.test(l)));
      const s = await storedState(h, id);
      expect(s.stateJson).toEqual({ seq: 1, good: true });
    });

    it('changing config replaces the container exactly once; an identical redeploy replaces nothing', async (ctx) => {
      const h = harness(ctx);
      const id = uniqueId('change');
      const dir = join(EXAMPLES, 'node-counter');
      await deploy(h, dir, id, ['--config', '{"interval_seconds":1}']);
      const first = await waitRunning(h, id);
      const same = await deploy(h, dir, id, ['--config', '{"interval_seconds":1}']);
      expect(same).toMatch(/unchanged/);
      await deploy(h, dir, id, ['--config', '{"interval_seconds":0.5}']);
      const second = await waitFor('replacement running', async () => {
        const c = await h.probe.running(id);
        return c && c.id !== first.id ? c : undefined;
      });
      expect(second.specHash).not.toBe(first.specHash);
      // Two more full passes must not replace it again.
      await waitPasses(h, passCount(h), 2);
      expect((await h.probe.containers(id)).map((c) => c.id)).toEqual([second.id]);
      await deploy(h, dir, id, ['--config', '{"interval_seconds":0.5}']);
      await waitPasses(h, passCount(h), 2);
      expect((await h.probe.containers(id)).map((c) => c.id)).toEqual([second.id]);
      expect(serviceLogFor(h, id, 'replacing container')).toHaveLength(1);
      expect(serviceLogFor(h, id, 'starting container')).toHaveLength(2);
    });

    it('disable stops and removes the container; rm leaves nothing behind', async (ctx) => {
      const h = harness(ctx);
      const id = uniqueId('rm');
      await deploy(h, join(EXAMPLES, 'python-counter'), id, ['--config', '{"interval_seconds":0.3}']);
      await waitRunning(h, id);
      await waitFor('a stored counter', () => counterOf(h, id));
      const { berthOk } = await import('../support/berth-process.js');
      await berthOk(h.server.url, ['disable', id]);
      await waitFor('no container after disable', async () => (await h.probe.containers(id)).length === 0);
      expect((await botView(h, id)).bot.enabled).toBe(false);
      await berthOk(h.server.url, ['enable', id]);
      await waitRunning(h, id);
      await berthOk(h.server.url, ['rm', id]);
      await waitFor('no container after rm', async () => (await h.probe.containers(id)).length === 0);
      const { readdir } = await import('node:fs/promises');
      const objectsLeft: string[] = [];
      for (const prefix of ['code', 'state', 'logs', 'runs']) {
        const entries = await readdir(join(h.server.dataDir, 'objects', prefix, id)).catch(() => []);
        objectsLeft.push(...entries.map((e) => `${prefix}/${id}/${e}`));
      }
      expect(objectsLeft).toEqual([]);
      const r = await fetch(`${h.server.url}/v1/bots/${id}`);
      expect(r.status).toBe(404);
    });

    it('a bot that exits 1 at once is crash-looping within a minute, with exit code and last lines; never two containers', async (ctx) => {
      const h = harness(ctx);
      const id = uniqueId('crash');
      await deploy(h, join(FIXTURES, 'crasher'), id, ['--entrypoint', 'bot.py', '--runtime', 'python3.11']);
      let maxContainers = 0;
      const view = await waitFor('crash-looping', async () => {
        maxContainers = Math.max(maxContainers, (await h.probe.containers(id)).length);
        const v = await botView(h, id);
        return v.status?.phase === 'crash-looping' ? v : undefined;
      }, { timeoutMs: 60_000, intervalMs: 200 });
      expect(view.status?.lastExitCode).toBe(1);
      expect(view.recentLogs?.map((e) => e.line).join('\n')).toMatch(/simulated crash/);
      const firstBackoff = view.status?.backoffUntil;
      expect(firstBackoff).toBeDefined();
      // Backs off again after the retry, for longer, and never runs two containers.
      const again = await waitFor('second back-off', async () => {
        maxContainers = Math.max(maxContainers, (await h.probe.containers(id)).length);
        const v = await botView(h, id);
        return v.status?.phase === 'crash-looping' && (v.status.backoffCount ?? 0) >= 2 ? v : undefined;
      }, { timeoutMs: 90_000, intervalMs: 200 });
      expect(Date.parse(again.status!.backoffUntil!)).toBeGreaterThan(Date.parse(firstBackoff!));
      expect(maxContainers).toBeLessThanOrEqual(1);
      const { berthOk } = await import('../support/berth-process.js');
      const ls = await berthOk(h.server.url, ['inspect', id]);
      expect(ls).toMatch(/crash-looping/);
    }, 180_000);

    it('SIGKILL of berth serve: bots keep running, are adopted without duplicates, and a change made meanwhile is applied', async (ctx) => {
      const h = harness(ctx);
      const keep = uniqueId('adopt');
      const change = uniqueId('adoptchg');
      await deploy(h, join(EXAMPLES, 'node-counter'), keep, ['--config', '{"interval_seconds":0.5}']);
      await deploy(h, join(EXAMPLES, 'node-counter'), change, ['--config', '{"interval_seconds":0.5}']);
      const keepBefore = await waitRunning(h, keep);
      const changeBefore = await waitRunning(h, change);
      await h.server.kill();
      // Bots survive the service.
      expect((await h.probe.running(keep))?.id).toBe(keepBefore.id);
      // A change while the service is down, made through an API-only process on the same store.
      const { startBerth, berthOk } = await import('../support/berth-process.js');
      const api = await startBerth({ command: 'api', runtime: h.runtime, instance: h.instance, dataDir: h.server.dataDir });
      try {
        await berthOk(api.url, ['deploy', join(EXAMPLES, 'node-counter'), '--id', change, '--config', '{"interval_seconds":0.25}']);
      } finally {
        await api.stop();
      }
      expect((await h.probe.running(change))?.id).toBe(changeBefore.id);
      await h.restart();
      await waitFor('changed bot replaced', async () => {
        const c = await h.probe.running(change);
        return c && c.id !== changeBefore.id ? c : undefined;
      });
      const kept = await h.probe.containers(keep);
      expect(kept.map((c) => c.id)).toEqual([keepBefore.id]);
      expect((await h.probe.containers(change)).length).toBe(1);
    }, 300_000);
  });
}
