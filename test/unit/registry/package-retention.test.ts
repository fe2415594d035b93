/**
 * Package retention after a deploy, against the real filesystem object store and SQLite:
 * which packages (archive and sidecar) a code-changing deploy deletes and which stay.
 */
import { utimes } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inspectPackage } from '../../../src/archive/inspect.js';
import type { PackageLimits } from '../../../src/archive/types.js';
import { BotRegistry, type BotRegistryOptions } from '../../../src/core/registry/bot-registry.js';
import type { CodeRef } from '../../../src/domain/bot.js';
import { UnavailableError, ValidationError } from '../../../src/domain/errors.js';
import { objectKeys } from '../../../src/domain/object-keys.js';
import type { ObjectStore } from '../../../src/ports/objects.js';
import type { DesiredStateStore } from '../../../src/ports/store.js';
import { PYTHON_BOT, writeTarGz } from './fixtures.js';
import { openHarness, type Harness } from './harness.js';

let h: Harness;
const ID = 'keeper';
/** Upload times, one minute apart, so "newest" does not depend on the clock's resolution. */
let minute = 0;

beforeEach(async () => {
  h = await openHarness();
  minute = 0;
});
afterEach(async () => {
  await h.close();
});

function registry(overrides: Partial<BotRegistryOptions<Partial<PackageLimits>>> = {}): BotRegistry<Partial<PackageLimits>> {
  return new BotRegistry<Partial<PackageLimits>>({
    store: h.store,
    objects: h.objects,
    events: h.events,
    limits: {},
    inspect: (file, limits) => inspectPackage(file, limits),
    ...overrides,
  });
}

/** Uploads version `v` (distinct bytes) and dates its archive `minute` minutes after a fixed start. */
async function upload(v: number, via: BotRegistry<Partial<PackageLimits>> = h.registry): Promise<CodeRef> {
  const file = await writeTarGz(h.scratch(`v${v}.tar.gz`), [...PYTHON_BOT, { path: 'version.py', body: `V = ${v}\n` }]);
  const { code } = await via.uploadPackage(ID, file);
  const at = new Date(Date.UTC(2030, 0, 1) + ++minute * 60_000);
  await utimes(path.join(h.dir, 'objects', ...code.key.split('/')), at, at);
  return code;
}

/** Which of the given versions still have their archive and sidecar (both or neither). */
async function present(codes: Record<string, CodeRef>): Promise<string[]> {
  const keys = new Set(await h.keys());
  const out: string[] = [];
  for (const [name, code] of Object.entries(codes)) {
    const archive = keys.has(code.key);
    expect(keys.has(objectKeys.codeManifest(ID, code.sha256)), `sidecar of ${name} goes with its archive`).toBe(archive);
    if (archive) out.push(name);
  }
  return out;
}

describe('a deploy that changes the code', () => {
  it('keeps the deployed package and the 2 newest others; older ones go, archive and sidecar', async () => {
    const v: Record<string, CodeRef> = {};
    for (const n of [1, 2, 3]) {
      v[`v${n}`] = await upload(n);
      await h.registry.applySpec({ id: ID, code: v[`v${n}`] });
    }
    expect(await present(v)).toEqual(['v1', 'v2', 'v3']);
    v.v4 = await upload(4);
    await h.registry.applySpec({ id: ID, code: v.v4 });
    expect(await present(v)).toEqual(['v2', 'v3', 'v4']);
    expect((await h.store.getBot(ID))?.code.sha256).toBe(v.v4.sha256);
  });

  it('a rollback to a kept version works, and then the package it replaced stays even when it is not among the newest', async () => {
    const v: Record<string, CodeRef> = {};
    for (const n of [1, 2, 3]) {
      v[`v${n}`] = await upload(n);
      await h.registry.applySpec({ id: ID, code: v[`v${n}`] });
    }
    expect((await h.registry.applySpec({ id: ID, code: v.v1 })).op).toBe('updated');
    expect(await present(v)).toEqual(['v1', 'v2', 'v3']);
    // Uploaded but never deployed: newer than v1, which runs now.
    v.v4 = await upload(4);
    v.v5 = await upload(5);
    v.v6 = await upload(6);
    await h.registry.applySpec({ id: ID, code: v.v6 });
    // v1 was running: its container may still be restarting from it while it is replaced.
    expect(await present(v)).toEqual(['v1', 'v4', 'v5', 'v6']);
  });

  it('covers packages uploaded for a new bot whose earlier deploys were refused', async () => {
    const v: Record<string, CodeRef> = {};
    for (const n of [1, 2, 3]) {
      v[`v${n}`] = await upload(n);
      await expect(h.registry.applySpec({ id: ID, code: v[`v${n}`], entrypoint: 'nope.py' })).rejects.toBeInstanceOf(ValidationError);
    }
    v.v4 = await upload(4);
    expect((await h.registry.applySpec({ id: ID, code: v.v4 })).op).toBe('created');
    expect(await present(v)).toEqual(['v2', 'v3', 'v4']);
  });

  it('leaves keys under code/<id>/ that Berth did not write alone', async () => {
    await h.objects.put(`code/${ID}/notes.txt`, Buffer.from('mine'));
    for (const n of [1, 2, 3, 4, 5]) await h.registry.applySpec({ id: ID, code: await upload(n) });
    expect(await h.objects.stat(`code/${ID}/notes.txt`)).not.toBeNull();
    expect((await h.keys()).filter((k) => k.endsWith('.tar.gz'))).toHaveLength(3);
  });
});

describe('what a deploy never prunes', () => {
  it('a config change or an identical redeploy deletes nothing', async () => {
    const v1 = await upload(1);
    await h.registry.applySpec({ id: ID, code: v1 });
    const uploads = { v1, v2: await upload(2), v3: await upload(3), v4: await upload(4) };
    expect((await h.registry.applySpec({ id: ID, code: v1, config: { n: 2 } })).op).toBe('updated');
    expect((await h.registry.applySpec({ id: ID, code: v1, config: { n: 2 } })).op).toBe('unchanged');
    expect(await present(uploads)).toEqual(['v1', 'v2', 'v3', 'v4']);
  });

  it('with keepPreviousPackages 0 only the deployed package and the one it replaced stay', async () => {
    const strict = registry({ keepPreviousPackages: 0 });
    const v: Record<string, CodeRef> = {};
    for (const n of [1, 2, 3]) {
      v[`v${n}`] = await upload(n, strict);
      await strict.applySpec({ id: ID, code: v[`v${n}`] });
    }
    expect(await present(v)).toEqual(['v2', 'v3']);
    strict.close();
  });

  it('the package a record references now stays, even when another writer deployed it after our write', async () => {
    const strict = registry({ keepPreviousPackages: 0 });
    const v1 = await upload(1, strict);
    await strict.applySpec({ id: ID, code: v1 });
    const v2 = await upload(2, strict);
    await strict.applySpec({ id: ID, code: v2 });
    const v3 = await upload(3, strict);
    // Another process rolls the bot back to v1 right after this one wrote v3.
    const racing = Object.create(h.store) as DesiredStateStore;
    racing.writeBot = async (bot, expected, signal) => {
      if (!(await h.store.writeBot(bot, expected, signal))) return false;
      return h.store.writeBot({ ...bot, code: v1, generation: bot.generation + 1 }, bot.generation);
    };
    const raced = registry({ store: racing, keepPreviousPackages: 0 });
    await raced.applySpec({ id: ID, code: v3 });
    expect((await h.store.getBot(ID))?.code.sha256).toBe(v1.sha256);
    expect(await present({ v1, v2, v3 })).toEqual(['v1', 'v2', 'v3']);
    strict.close();
    raced.close();
  });

  it('a failing prune does not fail the deploy; it is reported, and the next deploy prunes', async () => {
    const warnings: string[] = [];
    const failing = Object.create(h.objects) as ObjectStore;
    failing.delete = async () => {
      throw new UnavailableError('objects', 'disk went away');
    };
    const flaky = registry({ objects: failing, onWarning: (m) => warnings.push(m) });
    const v: Record<string, CodeRef> = {};
    for (const n of [1, 2, 3, 4]) {
      v[`v${n}`] = await upload(n, flaky);
      expect((await flaky.applySpec({ id: ID, code: v[`v${n}`] })).changed).toBe(true);
    }
    expect((await h.store.getBot(ID))?.code.sha256).toBe(v.v4?.sha256);
    expect(warnings).toEqual([expect.stringMatching(/^old packages of keeper not pruned: .*disk went away/)]);
    expect(await present(v)).toEqual(['v1', 'v2', 'v3', 'v4']);
    v.v5 = await upload(5);
    await h.registry.applySpec({ id: ID, code: v.v5 });
    expect(await present(v)).toEqual(['v3', 'v4', 'v5']);
    flaky.close();
  });

  it('refuses a keepPreviousPackages that is not a whole number, 0 or more', () => {
    expect(() => registry({ keepPreviousPackages: -1 })).toThrow(ValidationError);
    expect(() => registry({ keepPreviousPackages: 1.5 })).toThrow(/keepPreviousPackages/);
  });
});
