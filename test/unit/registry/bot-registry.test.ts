import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, PackageRejectedError, ValidationError } from '../../../src/domain/errors.js';
import { objectKeys } from '../../../src/domain/object-keys.js';
import type { CodeRef } from '../../../src/domain/bot.js';
import type { DesiredStateStore } from '../../../src/ports/store.js';
import { BotRegistry } from '../../../src/core/registry/bot-registry.js';
import { PYTHON_BOT, THE0_BOT, writeTarGz, zipBuffer } from './fixtures.js';
import { flushEvents, openHarness, type Harness } from './harness.js';
import { waitFor } from '../../support/wait.js';
import { writeFile } from 'node:fs/promises';

let h: Harness;
let n = 0;
const uniqueId = () => `bot-${process.pid}-${++n}`;

beforeEach(async () => {
  h = await openHarness();
});
afterEach(async () => {
  await h.close();
});

async function upload(id: string, entries = PYTHON_BOT): Promise<CodeRef> {
  const file = await writeTarGz(h.scratch(`${id}-${n}-${Math.random()}.tar.gz`), entries);
  return (await h.registry.uploadPackage(id, file)).code;
}

function validationIssues(err: unknown): { field: string; message: string }[] {
  expect(err).toBeInstanceOf(ValidationError);
  return [...(err as ValidationError).issues];
}

describe('uploadPackage', () => {
  it('stores the archive content-addressed with a sidecar, and a second upload of it writes nothing new', async () => {
    const id = uniqueId();
    const file = await writeTarGz(h.scratch('p.tar.gz'), PYTHON_BOT);
    const first = await h.registry.uploadPackage(id, file);
    expect(first.code.key).toBe(objectKeys.code(id, first.code.sha256, 'tar.gz'));
    expect(first.code.version).toBe(first.code.sha256.slice(0, 12));
    expect(first.entries).toBe(3);
    expect(first.stored).toBe(true);
    expect(await h.keys()).toEqual([objectKeys.codeManifest(id, first.code.sha256), first.code.key].sort());
    const modified = (await h.objects.stat(first.code.key))?.modifiedAt;
    const sidecarModified = (await h.objects.stat(objectKeys.codeManifest(id, first.code.sha256)))?.modifiedAt;

    const again = await h.registry.uploadPackage(id, file);
    expect(again.code).toEqual(first.code);
    expect(again.stored).toBe(false);
    expect((await h.objects.stat(first.code.key))?.modifiedAt).toEqual(modified);
    expect((await h.objects.stat(objectKeys.codeManifest(id, first.code.sha256)))?.modifiedAt).toEqual(sidecarModified);
  });

  it('a sidecar lost after the archive was written (crash between the two) is rewritten by the next upload', async () => {
    const id = uniqueId();
    const file = await writeTarGz(h.scratch('p.tar.gz'), PYTHON_BOT);
    const { code } = await h.registry.uploadPackage(id, file);
    await h.objects.delete(objectKeys.codeManifest(id, code.sha256));
    await expect(h.registry.applySpec({ id, code })).rejects.toBeInstanceOf(ValidationError);
    await h.registry.uploadPackage(id, file);
    expect((await h.registry.applySpec({ id, code })).op).toBe('created');
  });

  it('accepts a zip and reports the bot-config.yaml manifest', async () => {
    const id = uniqueId();
    const file = h.scratch('p.zip');
    await writeFile(file, zipBuffer([
      { path: 'bot-config.yaml', body: 'name: Zipped\ntype: realtime\nruntime: node\nentrypoints:\n  bot: index.js\n' },
      { path: 'index.js', body: 'export function main() {}\n' },
    ]));
    const result = await h.registry.uploadPackage(id, file);
    expect(result.code.format).toBe('zip');
    expect(result.manifest).toMatchObject({ name: 'Zipped', kind: 'live', runtime: 'node', entrypoint: 'index.js' });
  });

  it('rejects a hostile package naming the entry and stores nothing', async () => {
    const id = uniqueId();
    const file = await writeTarGz(h.scratch('evil.tar.gz'), [
      { path: 'main.py', body: 'print(1)\n' },
      { path: '../escape.py', body: 'print(2)\n' },
    ]);
    const err = await h.registry.uploadPackage(id, file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackageRejectedError);
    expect((err as PackageRejectedError).message).toContain('escape.py');
    expect(await h.keys()).toEqual([]);
  });

  it('rejects a bad bot id before reading the file', async () => {
    const err = await h.registry.uploadPackage('Bad_Id', h.scratch('does-not-exist')).catch((e: unknown) => e);
    expect(validationIssues(err)[0]?.field).toBe('id');
  });
});

describe('applySpec', () => {
  it('creates at generation 1 with one created event; an identical redeploy changes nothing and publishes nothing', async () => {
    const id = uniqueId();
    const code = await upload(id);
    const created = await h.registry.applySpec({ id, code, config: { symbol: 'BTC' } });
    expect(created).toMatchObject({ changed: true, op: 'created' });
    expect(created.bot).toMatchObject({ id, name: id, kind: 'live', runtime: 'python3.11', entrypoint: 'main.py', generation: 1, enabled: true });
    await flushEvents(h.events);
    expect(h.changed).toEqual([{ id, generation: 1, op: 'created' }]);

    const again = await h.registry.applySpec({ id, code, config: { symbol: 'BTC' } });
    expect(again).toMatchObject({ changed: false, op: 'unchanged' });
    expect(again.bot.generation).toBe(1);
    expect(again.bot.updatedAt).toBe(created.bot.updatedAt);
    await flushEvents(h.events);
    expect(h.changed).toHaveLength(1);
  });

  it('a config change is generation + 1 and exactly one updated event', async () => {
    const id = uniqueId();
    const code = await upload(id);
    await h.registry.applySpec({ id, code, config: { n: 1 } });
    const updated = await h.registry.applySpec({ id, code, config: { n: 2 } });
    expect(updated).toMatchObject({ changed: true, op: 'updated' });
    expect(updated.bot.generation).toBe(2);
    expect((await h.store.getBot(id))?.config).toEqual({ n: 2 });
    await flushEvents(h.events);
    expect(h.changed).toEqual([
      { id, generation: 1, op: 'created' },
      { id, generation: 2, op: 'updated' },
    ]);
  });

  it('new code is a change; the sha256 alone is enough to reference an uploaded package', async () => {
    const id = uniqueId();
    const v1 = await upload(id);
    await h.registry.applySpec({ id, code: v1 });
    const v2 = await upload(id, [...PYTHON_BOT, { path: 'extra.py', body: '# v2\n' }]);
    const result = await h.registry.applySpec({ id, code: { sha256: v2.sha256 } });
    expect(result.op).toBe('updated');
    expect(result.bot.code).toEqual(v2);
  });

  it('fills name, kind, runtime, entrypoint and flavor from bot-config.yaml; explicit fields win', async () => {
    const id = uniqueId();
    const code = await upload(id, THE0_BOT);
    const fromManifest = await h.registry.applySpec({ id, code });
    expect(fromManifest.bot).toMatchObject({ name: 'Price watcher', kind: 'live', runtime: 'python3.11', entrypoint: 'src/watch.py', flavor: 'the0' });
    const explicit = await h.registry.applySpec({ id, code, name: 'Mine' });
    expect(explicit.bot.name).toBe('Mine');
    expect(explicit.bot.entrypoint).toBe('src/watch.py');
  });

  it('an omitted enabled keeps the current value', async () => {
    const id = uniqueId();
    const code = await upload(id);
    await h.registry.applySpec({ id, code });
    await h.registry.setEnabled(id, false);
    const redeploy = await h.registry.applySpec({ id, code });
    expect(redeploy).toMatchObject({ changed: false });
    expect(redeploy.bot.enabled).toBe(false);
  });

  it('a missing entrypoint names the field and the close candidates, and writes nothing', async () => {
    const id = uniqueId();
    const code = await upload(id);
    const err = await h.registry.applySpec({ id, code, entrypoint: 'helpers.py' }).catch((e: unknown) => e);
    const [issue] = validationIssues(err);
    expect(issue?.field).toBe('entrypoint');
    expect(issue?.message).toContain('"lib/helpers.py"');
    expect(await h.store.getBot(id)).toBeNull();
  });

  it('an entrypoint that does not fit the runtime is refused', async () => {
    const id = uniqueId();
    const code = await upload(id);
    const err = await h.registry.applySpec({ id, code, runtime: 'node' }).catch((e: unknown) => e);
    expect(validationIssues(err)[0]).toMatchObject({ field: 'entrypoint' });
    expect(validationIssues(err)[0]?.message).toContain('nodejs20');
  });

  it('names every bad field: wrong types, config not an object, unknown field; nothing is written', async () => {
    const id = uniqueId();
    const code = await upload(id);
    const before = await h.keys();
    const err = await h.registry
      .applySpec({ id, code, config: ['not', 'an', 'object'], resources: { memoryMb: 'lots' }, enabled: 'yes', colour: 'blue' })
      .catch((e: unknown) => e);
    const fields = validationIssues(err).map((i) => i.field).sort();
    expect(fields).toEqual(expect.arrayContaining(['config', 'resources.memoryMb', 'enabled']));
    expect(validationIssues(err).some((i) => i.message.includes('"colour"'))).toBe(true);
    expect(await h.store.listBots()).toEqual([]);
    expect(await h.keys()).toEqual(before);
    await flushEvents(h.events);
    expect(h.changed).toEqual([]);
  });

  it('an out-of-range resource or time-out says the allowed range, not "must be a number"', async () => {
    const id = uniqueId();
    const code = await upload(id);
    const err = await h.registry.applySpec({ id, code, resources: { memoryMb: 1, cpus: 1000, pids: 2.5 } }).catch((e: unknown) => e);
    const byField = Object.fromEntries(validationIssues(err).map((i) => [i.field, i.message]));
    expect(byField).toEqual({
      'resources.memoryMb': 'must be at least 32 MiB (allowed: 32 to 262144)',
      'resources.cpus': 'must be at most 256 (allowed: 0.05 to 256)',
      'resources.pids': 'must be a whole number from 16 to 65536',
    });
    const typed = await h.registry.applySpec({ id, code, resources: { memoryMb: 'lots' } }).catch((e: unknown) => e);
    expect(validationIssues(typed)[0]?.message).toBe('must be a whole number from 32 to 262144 MiB');
    const timeout = await h.registry
      .applySpec({ id, code, kind: 'scheduled', schedule: { cron: '* * * * *', maxRuntimeSeconds: 0 } })
      .catch((e: unknown) => e);
    expect(validationIssues(timeout)[0]).toEqual({ field: 'schedule.maxRuntimeSeconds', message: 'must be at least 1 (allowed: 1 to 2592000)' });
  });

  it('an unknown runtime from bot-config.yaml says where the value came from', async () => {
    const id = uniqueId();
    const code = await upload(id, [
      { path: 'bot-config.yaml', body: 'type: realtime\nruntime: rust\nentrypoints:\n  bot: main.py\n' },
      { path: 'main.py', body: '' },
    ]);
    const err = await h.registry.applySpec({ id, code }).catch((e: unknown) => e);
    const [issue] = validationIssues(err);
    expect(issue?.field).toBe('runtime');
    expect(issue?.message).toContain('bot-config.yaml');
  });

  it('a package with nothing to run says so and how to fix it, instead of "must be a string" on runtime and entrypoint', async () => {
    const issuesOf = async (entries: Parameters<typeof upload>[1], extra: Record<string, unknown> = {}) => {
      const id = uniqueId();
      return validationIssues(await h.registry.applySpec({ id, code: await upload(id, entries), ...extra }).catch((e: unknown) => e));
    };
    const fix = 'Name the file to run (berth deploy --entrypoint <file>, with --runtime python3.11 or nodejs20 unless it ends in .py or .js), or add main.py, index.js or a bot-config.yaml with entrypoints.bot';
    expect(await issuesOf([{ path: 'README.md', body: 'nothing to run' }])).toEqual([
      { field: 'entrypoint', message: `no runnable file found: none of main.py, bot.py, index.js, main.js, index.mjs, main.mjs, bot.js is at the package root and no bot-config.yaml names one (entrypoints.bot). ${fix}` },
    ]);
    expect(await issuesOf([{ path: 'bot/', type: 'directory' }, { path: 'bot/main.py', body: '' }])).toEqual([
      { field: 'entrypoint', message: `no runnable file found: every file of the package is under "bot/" (pack the contents of that directory instead). ${fix}` },
    ]);
    // Other bad fields are still named next to it.
    const both = await issuesOf([{ path: 'bot-config.yaml', body: `name: ${'n'.repeat(201)}\n` }]);
    expect(both.map((i) => i.field)).toEqual(['entrypoint', 'name']);
    expect(await issuesOf([{ path: 'run.sh', body: '' }], { entrypoint: 'run.sh' })).toEqual([
      { field: 'runtime', message: 'cannot be told from the entrypoint "run.sh" (only .py means python3.11 and .js/.mjs/.cjs nodejs20); give it (berth deploy --runtime python3.11 or nodejs20)' },
    ]);
  });

  it('refuses a bad id, a missing code and code that was never uploaded', async () => {
    const bad = await h.registry.applySpec({ id: 'Not OK', code: 'x' }).catch((e: unknown) => e);
    expect(validationIssues(bad).map((i) => i.field)).toContain('id');
    const id = uniqueId();
    const missing = await h.registry.applySpec({ id }).catch((e: unknown) => e);
    expect(validationIssues(missing)[0]?.field).toBe('code');
    const unknown = await h.registry.applySpec({ id, code: { sha256: 'a'.repeat(64) } }).catch((e: unknown) => e);
    expect(validationIssues(unknown)[0]?.message).toContain('no package');
    const notAnObject = await h.registry.applySpec([1, 2]).catch((e: unknown) => e);
    expect(notAnObject).toBeInstanceOf(ValidationError);
  });

  it('code uploaded for another bot cannot be referenced', async () => {
    const a = uniqueId();
    const b = uniqueId();
    const code = await upload(a);
    const err = await h.registry.applySpec({ id: b, code }).catch((e: unknown) => e);
    expect(validationIssues(err)[0]?.field).toMatch(/^code/);
  });

  it('a record never points at a missing archive: an archive deleted after upload fails the deploy', async () => {
    const id = uniqueId();
    const code = await upload(id);
    await h.objects.delete(code.key);
    const err = await h.registry.applySpec({ id, code }).catch((e: unknown) => e);
    expect(validationIssues(err)[0]?.field).toBe('code');
    expect(await h.store.getBot(id)).toBeNull();
  });

  it('retries a lost conditional write against the re-read record', async () => {
    const id = uniqueId();
    const code = await upload(id);
    await h.registry.applySpec({ id, code, config: { n: 1 } });
    // A store whose first conditional write loses the race, as if another writer got there first.
    let lost = false;
    const racing: DesiredStateStore = Object.create(h.store) as DesiredStateStore;
    racing.writeBot = async (bot, expected, signal) => {
      if (!lost) {
        lost = true;
        const current = await h.store.getBot(id);
        await h.store.writeBot({ ...current!, config: { n: 'other' }, generation: current!.generation + 1 }, current!.generation);
        return false;
      }
      return h.store.writeBot(bot, expected, signal);
    };
    const registry = new BotRegistry({ store: racing, objects: h.objects, events: h.events, limits: {}, inspect: async () => { throw new Error('unused'); } });
    const result = await registry.applySpec({ id, code, config: { n: 2 } });
    expect(result.bot.generation).toBe(3);
    expect((await h.store.getBot(id))?.config).toEqual({ n: 2 });
  });

  it('gives up with ConflictError when every write loses', async () => {
    const id = uniqueId();
    const code = await upload(id);
    const losing: DesiredStateStore = Object.create(h.store) as DesiredStateStore;
    losing.writeBot = async () => false;
    const registry = new BotRegistry({ store: losing, objects: h.objects, events: h.events, limits: {}, inspect: async () => { throw new Error('unused'); }, maxWriteAttempts: 3 });
    await expect(registry.applySpec({ id, code })).rejects.toBeInstanceOf(ConflictError);
  });
});

describe('setEnabled, remove, get, list', () => {
  it('disable and enable are one change each; repeating one is not a change', async () => {
    const id = uniqueId();
    await h.registry.applySpec({ id, code: await upload(id) });
    expect(await h.registry.setEnabled(id, false)).toMatchObject({ changed: true, op: 'updated', bot: { enabled: false, generation: 2 } });
    expect(await h.registry.setEnabled(id, false)).toMatchObject({ changed: false, bot: { generation: 2 } });
    expect(await h.registry.setEnabled(id, true)).toMatchObject({ changed: true, bot: { enabled: true, generation: 3 } });
    await expect(h.registry.setEnabled(uniqueId(), true)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('remove deletes the record, publishes deleted and removes every object of the bot, not of others', async () => {
    const id = uniqueId();
    const other = uniqueId();
    await h.registry.applySpec({ id, code: await upload(id) });
    await h.registry.applySpec({ id: other, code: await upload(other) });
    await h.objects.put(objectKeys.state(id), Buffer.from('x'));
    await h.objects.put(objectKeys.logChunk(id, Date.now(), 1), Buffer.from('{}\n'));
    const result = await h.registry.remove(id);
    expect(result).toMatchObject({ id, hadRecord: true, keptData: false });
    expect(result.objectsDeleted).toBe(4);
    expect(result.deletedObjects).toEqual({ code: 2, state: 1, logs: 1, runs: 0 });
    expect(await h.store.getBot(id)).toBeNull();
    expect((await h.keys()).filter((k) => k.includes(`/${id}/`))).toEqual([]);
    expect((await h.keys()).filter((k) => k.includes(`/${other}/`))).toHaveLength(2);
    await flushEvents(h.events);
    expect(h.changed.at(-1)).toEqual({ id, generation: 2, op: 'deleted' });
    await expect(h.registry.remove(id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('remove waits for the container to go before deleting objects, so its final sync leaves nothing behind', async () => {
    const id = uniqueId();
    await h.registry.applySpec({ id, code: await upload(id) });
    await h.store.writeStatus({ botId: id, phase: 'running', containerId: 'c-1', restartCount: 0, updatedAt: new Date().toISOString() });
    let resolved = false;
    const removing = h.registry.remove(id).then((r) => {
      resolved = true;
      return r;
    });
    await waitFor('the record to be deleted', async () => (await h.store.getBot(id)) === null);
    expect(resolved).toBe(false);
    // The container's final sync, then the service removes it and clears the status.
    await h.objects.put(objectKeys.state(id), Buffer.from('final'));
    await h.objects.put(objectKeys.logChunk(id, Date.now(), 9), Buffer.from('{}\n'));
    await h.store.deleteStatus(id);
    const result = await removing;
    expect(result).toMatchObject({ containerGone: true, keptData: false });
    expect((await h.keys()).filter((k) => k.includes(`/${id}/`))).toEqual([]);
  });

  it('when the container outlives the wait, what its final sync writes later is deleted once it is gone', async () => {
    const quick = await openHarness({ removeWaitMs: 50 });
    try {
      const id = uniqueId();
      const file = await writeTarGz(quick.scratch('p.tar.gz'), PYTHON_BOT);
      await quick.registry.applySpec({ id, code: (await quick.registry.uploadPackage(id, file)).code });
      await quick.store.writeStatus({ botId: id, phase: 'running', containerId: 'c-2', restartCount: 0, updatedAt: new Date().toISOString() });
      const result = await quick.registry.remove(id);
      expect(result.containerGone).toBe(false);
      expect(await quick.keys()).toEqual([]);
      await quick.objects.put(objectKeys.state(id), Buffer.from('late final sync'));
      await quick.store.deleteStatus(id);
      await waitFor('the late state to be purged', async () => (await quick.keys()).length === 0);
    } finally {
      await quick.close();
    }
  });

  it('remove with keepData keeps state and logs', async () => {
    const id = uniqueId();
    await h.registry.applySpec({ id, code: await upload(id) });
    await h.objects.put(objectKeys.state(id), Buffer.from('x'));
    await h.registry.remove(id, { keepData: true });
    expect(await h.store.getBot(id)).toBeNull();
    expect(await h.objects.stat(objectKeys.state(id))).not.toBeNull();
  });

  it('get and list', async () => {
    const a = uniqueId();
    await h.registry.applySpec({ id: a, code: await upload(a) });
    expect((await h.registry.get(a)).id).toBe(a);
    expect((await h.registry.list()).map((b) => b.id)).toEqual([a]);
    await expect(h.registry.get(uniqueId())).rejects.toBeInstanceOf(NotFoundError);
    await expect(h.registry.get('NOPE')).rejects.toBeInstanceOf(ValidationError);
  });
});
