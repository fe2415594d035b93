/**
 * `berth rm` of a scheduled bot with a run in progress: the registry waits until no run
 * record is `running` (the scheduler stops the run, whose daemon does its final sync, and
 * deletes the removed bot's records) before deleting the bot's objects, so nothing the run
 * writes last is left behind.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { objectKeys } from '../../../src/domain/object-keys.js';
import { PYTHON_BOT, writeTarGz } from '../registry/fixtures.js';
import { openHarness, type Harness } from '../registry/harness.js';
import { waitFor } from '../../support/wait.js';

const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.close();
});

describe('removing a scheduled bot', () => {
  it('waits for its running run to end before deleting its objects', async () => {
    const h = await openHarness();
    open.push(h);
    const id = 'nightly';
    const file = await writeTarGz(h.scratch('p.tar.gz'), PYTHON_BOT);
    await h.registry.applySpec({ id, kind: 'scheduled', schedule: { cron: '@daily' }, code: (await h.registry.uploadPackage(id, file)).code });
    await h.store.writeRun({ runId: 'm1', botId: id, trigger: 'manual', scheduledFor: '2026-01-01T00:00:00.000Z', createdAt: '2026-01-01T00:00:00.000Z', status: 'running' });
    let resolved = false;
    const removing = h.registry.remove(id).then((r) => {
      resolved = true;
      return r;
    });
    await waitFor('the record to be deleted', async () => (await h.store.getBot(id)) === null);
    expect(resolved).toBe(false);
    // The run's final sync, then the scheduler (run ended, bot gone) deletes the bot's run records.
    await h.objects.put(objectKeys.state(id), Buffer.from('final'));
    await h.store.pruneRuns(id, 0);
    const result = await removing;
    expect(result).toMatchObject({ containerGone: true, keptData: false });
    expect((await h.keys()).filter((k) => k.includes(`/${id}/`))).toEqual([]);
  });
});
