/**
 * Two Berth installations (two data dirs, so two stores) started under the same --instance
 * on one Docker Engine: the second leaves the first one's bots alone and says why bots of
 * the same id cannot run in both. Before installations were labelled, the second removed
 * the first one's containers as "undesired" at start-up, and the two fought for as long as
 * both ran.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, stopAllBerthProcesses, type BerthServer } from '../support/berth-process.js';
import { EXAMPLES, deploy, runtimeSkipReason, startHarness, uniqueId, waitRunning, type Harness } from './support.js';

describe('two installations under one instance on one Docker Engine', { timeout: 180_000 }, () => {
  let h: Harness | undefined;
  let second: BerthServer | undefined;
  let skip: string | undefined;

  beforeAll(async () => {
    skip = await runtimeSkipReason('docker');
    if (!skip) h = await startHarness('docker', 'two-inst');
  }, 300_000);

  afterAll(async () => {
    await second?.kill();
    await h?.close();
    await stopAllBerthProcesses();
  }, 120_000);

  it("the second one's start-up removes nothing of the first and warns", async (ctx) => {
    if (skip) ctx.skip(skip);
    const first = h!;
    const id = uniqueId('shared');
    await deploy(first, `${EXAMPLES}python-counter`, id, ['--config', '{"interval_seconds":0.5}']);
    const before = await waitRunning(first, id);

    // Its own data dir (store), the same instance; listening means its first reconcile is done.
    second = await startBerth({ runtime: 'docker', instance: first.instance, grace: '10', ...(first.image ? { image: first.image } : {}) });
    expect(second.stderr()).toMatch(/1 container\(s\) of instance "[^"]+" on this Docker Engine belong to another Berth installation/);
    expect(second.logs().filter((l) => l.msg === 'removing container')).toEqual([]);
    const after = await first.probe.containers(id);
    expect(after.map((c) => [c.id, c.state])).toEqual([[before.id, 'running']]);
  });
});
