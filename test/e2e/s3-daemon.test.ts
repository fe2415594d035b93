/**
 * The in-container daemon on S3 (issue 3): `berth serve --objects s3+http://…` with the
 * Docker runtime, bots on the host network so their daemons reach s3rver on 127.0.0.1.
 *
 * 1. A hostile bot looks for the daemon's credentials everywhere it can (its environment,
 *    /proc/<pid>/environ and cmdline of every process, files) and finds nothing, while the
 *    credentials are demonstrably in the container's configuration for the daemon.
 * 2. S3 down for 60 s while bots write state: no new containers (also not for a bot whose
 *    container was removed meanwhile: it would fail in init), the running bots keep running
 *    (same containers, no restarts), /v1/health shows the object store down; once S3 is
 *    back every bot's newest state is stored, the stored state never went back, and the
 *    removed bot is started again.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiJson, startBerth, stopAllBerthProcesses } from '../support/berth-process.js';
import { ensureTestImage } from '../support/image.js';
import { dockerProbe, type RuntimeProbe } from '../support/runtime-probe.js';
import { startS3Server, stopAllS3Servers, type S3Server } from '../support/s3-server.js';
import { waitFor } from '../support/wait.js';
import { FIXTURES, deploy, logLines, runtimeSkipReason, skipUnless, storedState, uniqueId, type Harness } from './support.js';

/** How long the object store is down in the outage test (the figure). */
const OUTAGE_MS = 60_000;

interface HuntReport {
  uid: number;
  gid: number;
  found: string[];
  environ: Record<string, { cmdline: string; environ: string }>;
  cmdlines: number;
  files: number;
}

describe('the daemon on S3 (Docker runtime, berth serve --objects s3+http://…)', { timeout: 240_000 }, () => {
  let skip: string | undefined;
  let s3: S3Server | undefined;
  let h: Harness | undefined;
  let probe: RuntimeProbe | undefined;
  // s3rver checks only the access key; the secret is ours, so the bot can look for it.
  const secret = `berthsecret${randomBytes(8).toString('hex')}`;
  const docker = new Docker();

  beforeAll(async () => {
    skip = await runtimeSkipReason('docker');
    if (skip) return;
    const image = await ensureTestImage();
    s3 = await startS3Server();
    const instance = uniqueId('e2e-s3');
    const objects = `s3+http://S3RVER:${secret}@127.0.0.1:${s3.port}/berth`;
    const server = await startBerth({
      runtime: 'docker',
      instance,
      image,
      interval: '3s',
      grace: '5',
      network: 'host',
      env: { BERTH_OBJECTS: objects },
    });
    probe = dockerProbe(instance);
    const p = probe;
    h = {
      runtime: 'docker',
      instance,
      server,
      probe: p,
      image,
      restart: () => Promise.reject(new Error('not used')),
      close: async () => {
        // Berth first: a live service would start the removed bots again, on an S3 that is about to go.
        await server.kill();
        for (const c of await p.runtime.list({})) await p.runtime.remove(c.id);
        await p.close();
      },
    };
  }, 300_000);

  afterAll(async () => {
    await h?.close();
    await stopAllBerthProcesses();
    await s3?.dispose();
    await stopAllS3Servers();
  });

  it('a bot that hunts for the daemon credentials finds nothing', async (ctx) => {
    skipUnless(ctx, skip);
    const harness = h!;
    const id = uniqueId('hunter');
    await deploy(harness, join(FIXTURES, 'secret-hunter'), id, ['--entrypoint', 'bot.mjs']);
    const line = await waitFor(`${id} reports its hunt`, async () => (await logLines(harness, id)).find((l) => l.startsWith('HUNT ')), {
      timeoutMs: 90_000,
      intervalMs: 500,
    });
    const report = JSON.parse(line.slice('HUNT '.length)) as HuntReport;

    expect(report.uid).toBe(10001);
    expect(report.found).toEqual([]);
    // It really looked: processes, command lines, files.
    expect(report.cmdlines).toBeGreaterThanOrEqual(3);
    expect(report.files).toBeGreaterThan(10);
    // The init (PID 1) and the daemon hold the credentials in their environment; the kernel
    // refuses the bot (another uid) to read it.
    expect(report.environ['1']?.environ).toBe('EACCES');
    const daemons = Object.values(report.environ).filter((p) => p.cmdline.includes('berth-daemon'));
    expect(daemons.length).toBeGreaterThanOrEqual(1);
    for (const d of daemons) expect(d.environ).toBe('EACCES');

    // Positive control: the credentials are in the container's configuration (visible to the
    // operator through docker inspect), but neither in labels nor in the command line.
    const container = await harness.probe.running(id);
    const info = await docker.getContainer(container!.id).inspect();
    expect(info.Config.Env).toContain(`BERTH_SECRET_S3_SECRET_KEY=${secret}`);
    expect(info.Config.Env.find((e) => e.startsWith('BERTH_DAEMON_OBJECTS='))).not.toContain(secret);
    expect(JSON.stringify(info.Config.Labels)).not.toContain(secret);
    expect(JSON.stringify([info.Config.Cmd, info.Config.Entrypoint, info.Path, info.Args])).not.toContain(secret);
    // Nor in anything Berth printed.
    expect(harness.server.stderr()).not.toContain(secret);
    expect(JSON.stringify(harness.server.logs())).not.toContain(secret);
    expect((await logLines(harness, id)).join('\n')).not.toContain(secret);
    await apiJson(harness.server.url, `/v1/bots/${id}`, { method: 'DELETE' });
  });

  it(`S3 down for ${OUTAGE_MS / 1000} s while bots write state: no churn, bots keep running, newest state stored after`, async (ctx) => {
    skipUnless(ctx, skip);
    const harness = h!;
    const server = s3!;
    const count = 150;
    const ids = [uniqueId('writer'), uniqueId('writer'), uniqueId('writer')];
    const seqOf = async (id: string): Promise<number> => {
      const seq = (await storedState(harness, id)).stateJson?.seq;
      return typeof seq === 'number' ? seq : 0;
    };
    // 150 writes, one every 200 ms: ~30 s of writing, most of it while S3 is down.
    for (const id of ids) {
      await deploy(harness, join(FIXTURES, 'state-writer'), id, ['--entrypoint', 'bot.mjs', '--config', JSON.stringify({ mode: 'rename', count, intervalMs: 200 })]);
    }
    // A bot whose container disappears during the outage: Berth must not start one that would
    // fail in init (DESIGN §7, §10), and must start it once S3 is back.
    const victim = uniqueId('victim');
    await deploy(harness, join(FIXTURES, 'state-writer'), victim, ['--entrypoint', 'bot.mjs', '--config', JSON.stringify({ mode: 'rename', count: 1 })]);
    for (const id of ids) await waitFor(`${id} stored some state`, async () => (await seqOf(id)) >= 3, { timeoutMs: 90_000, intervalMs: 250 });
    const victimBefore = await waitFor(`${victim} running`, () => harness.probe.running(victim), { timeoutMs: 60_000 });

    const before = new Map<string, { id: string; restarts: number }>();
    for (const id of ids) {
      const c = await harness.probe.running(id);
      const info = await docker.getContainer(c!.id).inspect();
      before.set(id, { id: c!.id, restarts: info.RestartCount });
    }
    const lastStored = new Map<string, number>();
    for (const id of ids) lastStored.set(id, await seqOf(id));

    await server.stop();
    const downSince = Date.now();
    let sawDown = false;
    let victimRemoved = false;
    try {
      // The outage itself is the subject: check the fleet all through it.
      while (Date.now() - downSince < OUTAGE_MS) {
        const health = await apiJson<{ dependencies: { name: string; ok: boolean }[] }>(harness.server.url, '/v1/health');
        if (health.body.dependencies.some((d) => d.name === 'objects' && !d.ok)) sawDown = true;
        const all = await harness.probe.runtime.list({});
        const ours = all.filter((c) => ids.includes(c.botId));
        expect(ours.map((c) => c.id).sort()).toEqual([...before.values()].map((b) => b.id).sort());
        for (const c of ours) expect(c.state, c.botId).toBe('running');
        if (sawDown && !victimRemoved) {
          await docker.getContainer(victimBefore.id).remove({ force: true });
          victimRemoved = true;
        } else if (victimRemoved) {
          expect(all.filter((c) => c.botId === victim), 'a container for the victim while S3 is down').toEqual([]);
        }
        await new Promise((r) => setTimeout(r, 2000));
      }
    } finally {
      await server.start();
    }
    expect(sawDown).toBe(true);
    expect(victimRemoved).toBe(true);
    for (const id of ids) {
      const info = await docker.getContainer(before.get(id)!.id).inspect();
      expect(info.State.Running, id).toBe(true);
      expect(info.RestartCount, id).toBe(before.get(id)!.restarts);
    }
    // The bots finished writing while S3 was down: their newest state is only local so far.
    for (const id of ids) expect(lastStored.get(id)!, id).toBeLessThan(count);

    // Back: every bot's newest state arrives, and what is stored never goes back.
    await waitFor(
      'every bot stored its newest state',
      async () => {
        let done = true;
        for (const id of ids) {
          const seq = await seqOf(id);
          expect(seq, `${id} went back from ${lastStored.get(id)} to ${seq}`).toBeGreaterThanOrEqual(lastStored.get(id)!);
          lastStored.set(id, seq);
          if (seq !== count) done = false;
        }
        return done;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    await waitFor('health shows the object store up', async () => (await apiJson(harness.server.url, '/v1/health')).status === 200, { timeoutMs: 30_000 });
    // No container was added or replaced at any time.
    const after = (await harness.probe.runtime.list({})).filter((c) => ids.includes(c.botId));
    expect(after.map((c) => c.id).sort()).toEqual([...before.values()].map((b) => b.id).sort());
    const victimAfter = await waitFor(`${victim} started again once S3 is back`, () => harness.probe.running(victim), { timeoutMs: 60_000 });
    expect(victimAfter.id).not.toBe(victimBefore.id);
    // The log lines written during the outage were shipped too.
    for (const id of ids) {
      await waitFor(`${id} logs shipped`, async () => (await logLines(harness, id)).some((l) => l.includes(`done rename seq=${count}`)), { timeoutMs: 30_000, intervalMs: 500 });
    }
  });
});
