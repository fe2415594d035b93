/**
 * Issue 4 with the seed's service split: `berth api` and two `berth bot-scheduler` processes
 * on one store (SQLite file), one object store (directory) and NATS. `berth run` through the
 * API-only process is published on the bus; both schedulers hear it and exactly one runs it.
 * The process runtime keeps this quick; Docker runs are covered by scheduled-bots.test.ts.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Run } from '../../src/domain/run.js';
import { apiJson, berthOk, newDataDir, startBerth, stopAllBerthProcesses, type BerthServer } from '../support/berth-process.js';
import { natsSkipReason, startNatsServer, stopAllNatsServers, type NatsServer } from '../support/nats-server.js';
import { processProbe, type RuntimeProbe } from '../support/runtime-probe.js';
import { waitFor } from '../support/wait.js';
import { EXAMPLES, uniqueId } from './support.js';

const natsSkip = natsSkipReason();
const servers: BerthServer[] = [];
let nats: NatsServer | undefined;
let probe: RuntimeProbe | undefined;

afterAll(async () => {
  // The services first, so that none acts on the removal of what is left.
  for (const s of servers.splice(0)) await s.kill();
  await stopAllBerthProcesses();
  if (probe) {
    for (const c of await probe.runtime.list({})) await probe.runtime.remove(c.id);
    await probe.close();
  }
  await nats?.dispose();
  await stopAllNatsServers();
}, 120_000);

describe('scheduled bots with berth api + two berth bot-scheduler over NATS', { timeout: 120_000 }, () => {
  it('a run asked for through the API-only process is run exactly once by one of the schedulers', async (ctx) => {
    if (natsSkip) ctx.skip(natsSkip);
    nats = await startNatsServer();
    const instance = uniqueId('sched-split');
    const dataDir = await newDataDir(instance);
    const common = { runtime: 'process' as const, instance, dataDir, interval: '1h', grace: '2', extraArgs: ['--events', nats.url] };
    const schedulers = [await startBerth({ ...common, command: 'bot-scheduler' }), await startBerth({ ...common, command: 'bot-scheduler' })];
    servers.push(...schedulers);
    const api = await startBerth({ ...common, command: 'api' });
    servers.push(api);
    probe = processProbe(dataDir, instance);

    const id = uniqueId('split-run');
    await berthOk(api.url, ['deploy', join(EXAMPLES, 'node-scheduled'), '--id', id, '--schedule', '0 0 1 1 *']);
    const out = JSON.parse(await berthOk(api.url, ['run', id, '--json'])) as { requested?: { runId: string } };
    const runId = out.requested?.runId;
    expect(runId).toMatch(/^m\d{17}[0-9a-f]{4}$/);

    const done = await waitFor('the requested run finished', async () => {
      const r = await apiJson<Run>(api.url, `/v1/bots/${id}/runs/${runId}`);
      return r.status === 200 && r.body.status !== 'running' ? r.body : undefined;
    }, { timeoutMs: 60_000 });
    expect(done).toMatchObject({ trigger: 'manual', status: 'succeeded', exitCode: 0 });
    const starts = schedulers.flatMap((s) => s.logs().filter((l) => l.msg === 'scheduled run started' && l.runId === runId));
    expect(starts).toHaveLength(1);
    const runs = await apiJson<{ runs: Run[] }>(api.url, `/v1/bots/${id}/runs`);
    expect(runs.body.runs.map((r) => r.runId)).toEqual([runId]);
    const state = await apiJson<{ stateJson?: { runs?: number } }>(api.url, `/v1/bots/${id}/state`);
    expect(state.body.stateJson?.runs).toBe(1);
    // Both schedulers hold the schedule; the API shows its next slot.
    const view = await apiJson<{ schedule?: { nextRunAt: string | null } }>(api.url, `/v1/bots/${id}`);
    expect(view.body.schedule?.nextRunAt).toMatch(/^\d{4}-01-01T00:00:00.000Z$/);
  });
});
