/**
 * Must-hold of issue 3: the MongoDB-protocol server is down for 30 s under a running
 * `berth serve --store mongodb://…` (a real child process, process runtime). The service
 * keeps running, its bot keeps running in the same container (no churn), health and the API
 * report the store as down, and when the server is back everything recovers without a
 * restart: health turns green and a new deploy is acted on.
 *
 * The server is CongoDB in its own process (test/support/mongo-server.ts), stopped by PID and
 * started again on the same port with the same data. Takes about 30 s (the outage) plus
 * start-up. Also: a server that cannot be reached, or a malformed URL, stops start-up with
 * a clear error.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DependencyHealth } from '../../src/domain/status.js';
import { apiJson, berthCli, berthOk, newDataDir, startBerth, stopAllBerthProcesses, type BerthServer } from '../support/berth-process.js';
import { startMongoTestServer, stopAllMongoTestServers, type MongoTestServer } from '../support/mongo-server.js';
import { processProbe, type RuntimeProbe } from '../support/runtime-probe.js';
import { waitFor } from '../support/wait.js';
import { EXAMPLES, uniqueId } from './support.js';

const OUTAGE_MS = 30_000;

interface Health {
  ok: boolean;
  dependencies: DependencyHealth[];
}

async function storeHealth(url: string): Promise<{ status: number; store: DependencyHealth | undefined }> {
  const r = await apiJson<Health>(url, '/v1/health');
  return { status: r.status, store: r.body.dependencies?.find((d) => d.name === 'store') };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('MongoDB store outage under berth serve (process runtime)', { timeout: 180_000 }, () => {
  let mongo: MongoTestServer;
  let berth: BerthServer;
  let probe: RuntimeProbe;

  beforeAll(async () => {
    mongo = await startMongoTestServer();
    const instance = uniqueId('e2e-mongo');
    const dataDir = await newDataDir(instance);
    berth = await startBerth({
      runtime: 'process',
      instance,
      dataDir,
      interval: '2s',
      extraArgs: ['--store', mongo.url('berth_outage')],
    });
    probe = processProbe(dataDir, instance);
  }, 300_000);

  afterAll(async () => {
    // The service first: while it runs, removing a bot's container makes it start a new one
    // (the destroy event triggers a reconcile), which outlived the test run.
    await berth?.kill();
    await stopAllBerthProcesses();
    if (probe) {
      const leftovers = await probe.runtime.list({});
      await Promise.all(leftovers.map((c) => probe.runtime.remove(c.id)));
      await probe.close();
    }
    await mongo?.dispose();
    await stopAllMongoTestServers();
  }, 120_000);

  it('keeps the service and its bot running, reports the store down, and recovers by itself', async () => {
    const first = uniqueId('before');
    await berthOk(berth.url, ['deploy', join(EXAMPLES, 'python-counter'), '--id', first, '--config', '{"interval_seconds":0.5}']);
    const container = await waitFor(`${first} running`, () => probe.running(first), { timeoutMs: 60_000 });
    await waitFor('store healthy', async () => (await storeHealth(berth.url)).store?.ok === true);

    await mongo.stop();
    const outageEnds = Date.now() + OUTAGE_MS;
    const down = await waitFor('health reporting the store down', async () => {
      const h = await storeHealth(berth.url);
      return h.status === 503 && h.store?.ok === false ? h.store : undefined;
    }, { timeoutMs: 20_000 });
    expect(down.detail).toMatch(/store unavailable/);
    // Reads that need the store answer 503 with the typed error instead of hanging or crashing.
    const read = await apiJson(berth.url, `/v1/bots/${first}`);
    expect(read.status).toBe(503);
    expect(JSON.stringify(read.body)).toMatch(/store unavailable/);
    const ls = await berthCli(berth.url, ['ls']);
    expect(ls.code).not.toBe(0);
    expect(ls.stderr).toMatch(/store unavailable/);

    // Through the whole outage: the service lives, the bot keeps its one container.
    let checks = 0;
    while (Date.now() < outageEnds) {
      expect(alive(berth.pid), 'berth serve exited during the outage').toBe(true);
      const containers = await probe.containers(first);
      expect(containers.map((c) => [c.id, c.state])).toEqual([[container.id, 'running']]);
      expect((await storeHealth(berth.url)).store?.ok).toBe(false);
      checks++;
      await new Promise((r) => setTimeout(r, Math.min(2_000, Math.max(0, outageEnds - Date.now()))));
    }
    expect(checks).toBeGreaterThan(5);

    await mongo.start();
    await waitFor('health reporting the store up again', async () => {
      const h = await storeHealth(berth.url);
      return h.status === 200 && h.store?.ok === true;
    }, { timeoutMs: 30_000 });
    // Acted on again: a new bot is deployed and started; the first one was never replaced.
    const second = uniqueId('after');
    await berthOk(berth.url, ['deploy', join(EXAMPLES, 'python-counter'), '--id', second, '--config', '{"interval_seconds":0.5}']);
    await waitFor(`${second} running`, () => probe.running(second), { timeoutMs: 60_000 });
    expect((await probe.containers(first)).map((c) => c.id)).toEqual([container.id]);
    expect((await apiJson(berth.url, `/v1/bots/${first}`)).status).toBe(200);
    expect(alive(berth.pid)).toBe(true);
  });
});

describe('berth serve with a MongoDB store it cannot use', { timeout: 60_000 }, () => {
  afterAll(async () => {
    await stopAllBerthProcesses();
  });

  const serve = async (store: string) => {
    const dataDir = await newDataDir('mongo-bad');
    return berthCli('', ['serve', '--store', store, '--runtime', 'process', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--instance', uniqueId('bad')]);
  };

  it('stops at start-up with a clear error when the server cannot be reached', async () => {
    // Nothing listens on port 1 of the loopback.
    const r = await serve('mongodb://127.0.0.1:1/berth?directConnection=true');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/store unavailable: cannot connect at mongodb:\/\/127\.0\.0\.1:1\/berth/);
  });

  it('names the store setting, the problem and the accepted forms for a malformed URL, password hidden', async () => {
    const r = await serve('mongodb://admin:hunter2@db.example/bad.name');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/setting "store" from flag --store/);
    expect(r.stderr).toMatch(/invalid database "bad\.name"/);
    expect(r.stderr).toContain('mongodb+srv://');
    expect(r.stderr).not.toContain('hunter2');
  });
});
