/**
 * `remove` of an id that has no bot record but objects under it (packages of a refused
 * deploy, data an earlier `rm --keep-data` kept), on the real embedded adapters.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '../../../src/domain/errors.js';
import { objectKeys } from '../../../src/domain/object-keys.js';
import { PYTHON_BOT, writeTarGz } from './fixtures.js';
import { flushEvents, openHarness, type Harness } from './harness.js';

let h: Harness;
beforeEach(async () => {
  h = await openHarness();
});
afterEach(async () => {
  await h.close();
});

/** Uploads a package for `id` and has its deploy refused (no such entrypoint). */
async function refusedDeploy(id: string): Promise<void> {
  const file = await writeTarGz(h.scratch(`${id}.tar.gz`), PYTHON_BOT);
  const { code } = await h.registry.uploadPackage(id, file);
  await expect(h.registry.applySpec({ id, code, entrypoint: 'missing.py' })).rejects.toBeInstanceOf(ValidationError);
  expect(await h.store.getBot(id)).toBeNull();
}

const under = async (id: string) => (await h.keys()).filter((k) => k.split('/')[1] === id);

describe('remove of an id without a bot record', () => {
  it('deletes the packages a refused deploy left, says it had no record, and publishes nothing', async () => {
    await refusedDeploy('refused');
    await refusedDeploy('refused-2'); // shares the prefix "refused": must stay
    expect(await under('refused')).toHaveLength(2);
    const result = await h.registry.remove('refused');
    expect(result).toEqual({
      id: 'refused',
      hadRecord: false,
      keptData: false,
      objectsDeleted: 2,
      deletedObjects: { code: 2, state: 0, logs: 0, runs: 0 },
      containerGone: true,
    });
    expect(await under('refused')).toEqual([]);
    expect(await under('refused-2')).toHaveLength(2);
    await flushEvents(h.events);
    expect(h.changed).toEqual([]);
  });

  it('deletes state, logs and runs left by an earlier rm --keep-data', async () => {
    const id = 'kept';
    const file = await writeTarGz(h.scratch('p.tar.gz'), PYTHON_BOT);
    await h.registry.applySpec({ id, code: (await h.registry.uploadPackage(id, file)).code });
    await h.objects.put(objectKeys.state(id), Buffer.from('s'));
    await h.objects.put(objectKeys.logChunk(id, Date.now(), 1), Buffer.from('{}\n'));
    await h.objects.put(objectKeys.run(id, 'm1'), Buffer.from('{}'));
    expect(await h.registry.remove(id, { keepData: true })).toMatchObject({ hadRecord: true, keptData: true, objectsDeleted: 0 });
    const result = await h.registry.remove(id);
    expect(result).toMatchObject({ hadRecord: false, keptData: false, objectsDeleted: 5 });
    expect(result.deletedObjects).toEqual({ code: 2, state: 1, logs: 1, runs: 1 });
    expect(await under(id)).toEqual([]);
  });

  it('with keepData deletes only the packages and keeps state and logs', async () => {
    await refusedDeploy('half');
    await h.objects.put(objectKeys.state('half'), Buffer.from('s'));
    const result = await h.registry.remove('half', { keepData: true });
    expect(result).toMatchObject({ hadRecord: false, keptData: true, objectsDeleted: 2, deletedObjects: { code: 2, state: 0 } });
    expect(await under('half')).toEqual([objectKeys.state('half')]);
  });

  it('is NotFound only when nothing is stored under the id (with keepData: no package)', async () => {
    const none = await h.registry.remove('nobody').catch((e: unknown) => e);
    expect(none).toBeInstanceOf(NotFoundError);
    expect((none as Error).message).toBe('bot "nobody" does not exist and nothing is stored under its id');
    await h.objects.put(objectKeys.state('stateonly'), Buffer.from('s'));
    const kept = await h.registry.remove('stateonly', { keepData: true }).catch((e: unknown) => e);
    expect(kept).toBeInstanceOf(NotFoundError);
    expect((kept as Error).message).toMatch(/no package is stored under its id/);
    expect(await h.objects.stat(objectKeys.state('stateonly'))).not.toBeNull();
  });

  it('waits for a container still writing under the id before deleting its state', async () => {
    await refusedDeploy('lingering');
    await h.store.writeStatus({ botId: 'lingering', phase: 'running', containerId: 'c-9', restartCount: 0, updatedAt: new Date().toISOString() });
    let done = false;
    const removing = h.registry.remove('lingering').then((r) => ((done = true), r));
    await new Promise((r) => setTimeout(r, 100));
    expect(done).toBe(false);
    await h.objects.put(objectKeys.state('lingering'), Buffer.from('final sync'));
    await h.store.deleteStatus('lingering');
    expect(await removing).toMatchObject({ hadRecord: false, containerGone: true, deletedObjects: { code: 2, state: 1 } });
    expect(await under('lingering')).toEqual([]);
  });
});
