/**
 * The SQLite desired-state store: the shared contract, plus its own settings (WAL, busy
 * timeout), the `store` URL, and several real processes writing one file at once.
 */
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/adapters/store/open.js';
import { SqliteStore } from '../../src/adapters/store/sqlite/sqlite-store.js';
import { UnavailableError, ValidationError } from '../../src/domain/errors.js';
import { desiredStateStoreContract, makeBot } from './store.contract.js';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'berth-store-'));
}

desiredStateStoreContract('sqlite', async () => {
  const dir = await tempDir();
  const file = path.join(dir, 'berth.db');
  return {
    store: new SqliteStore(file),
    connect: async () => new SqliteStore(file),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describe('SqliteStore specifics', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the parent directory and uses WAL with a busy timeout', async () => {
    const file = path.join(dir, 'deep', 'er', 'berth.db');
    const store = openStore(`sqlite:${file}`);
    try {
      await store.init();
      expect((await stat(file)).isFile()).toBe(true);
      const probe = new Database(file, { readonly: true });
      try {
        expect(probe.pragma('journal_mode', { simple: true })).toBe('wal');
      } finally {
        probe.close();
      }
      // busy_timeout is per connection: read it from the store's own connection.
      const db = (store as unknown as { connection(): Database.Database }).connection();
      expect(db.pragma('busy_timeout', { simple: true })).toBeGreaterThanOrEqual(1000);
    } finally {
      await store.close();
    }
  });

  it('reports use after close as unavailable', async () => {
    const store = new SqliteStore(path.join(dir, 'berth.db'));
    await store.init();
    await store.close();
    await expect(store.getBot('alpha')).rejects.toBeInstanceOf(UnavailableError);
    await expect(store.ping()).rejects.toMatchObject({ dependency: 'store' });
  });

  it('reports a file it cannot open as unavailable', async () => {
    await writeFile(path.join(dir, 'not-a-dir'), 'x');
    const store = new SqliteStore(path.join(dir, 'not-a-dir', 'berth.db'));
    await expect(store.init()).rejects.toBeInstanceOf(UnavailableError);
    await store.close();
  });

  it('serialises conditional increments from several processes without losing one', async () => {
    const file = path.join(dir, 'berth.db');
    const seed = new SqliteStore(file);
    await seed.writeBot(makeBot('counter'), 0);
    await seed.close();
    const processes = 4;
    const incrementsEach = 25;
    // Each process reads, bumps and writes conditionally, retrying when it loses the race.
    const script = `
      const { SqliteStore } = await import(${JSON.stringify(pathToFileURL(path.join(repoRoot, 'src/adapters/store/sqlite/sqlite-store.ts')).href)});
      const store = new SqliteStore(${JSON.stringify(file)});
      await store.init();
      let lost = 0;
      for (let done = 0; done < ${incrementsEach}; ) {
        const bot = await store.getBot('counter');
        const next = { ...bot, generation: bot.generation + 1, config: { ...bot.config, count: (bot.config.count ?? 0) + 1 } };
        if (await store.writeBot(next, bot.generation)) done++; else lost++;
      }
      await store.close();
      process.stdout.write(String(lost));
    `;
    const scriptFile = path.join(dir, 'increment.mjs');
    await writeFile(scriptFile, script);
    const results = await Promise.all(
      Array.from({ length: processes }, () => run(process.execPath, ['--import', 'tsx', scriptFile], { cwd: repoRoot, timeout: 60_000 })),
    );
    const check = new SqliteStore(file);
    const bot = await check.getBot('counter');
    await check.close();
    expect(bot?.config.count).toBe(processes * incrementsEach);
    expect(bot?.generation).toBe(1 + processes * incrementsEach);
    expect(results.every((r) => /^\d+$/.test(r.stdout))).toBe(true);
  }, 120_000);
});

describe('openStore', () => {
  it('opens sqlite:<path> relative to the working directory and sqlite://<absolute path>', () => {
    expect((openStore('sqlite:./.berth/berth.db') as SqliteStore).file).toBe(path.resolve('.berth/berth.db'));
    expect((openStore('sqlite:///var/lib/berth.db') as SqliteStore).file).toBe('/var/lib/berth.db');
    expect((openStore('sqlite::memory:') as SqliteStore).file).toBe(':memory:');
  });

  it('works in memory', async () => {
    const store = openStore('sqlite::memory:');
    await store.init();
    expect(await store.writeBot(makeBot('alpha'), 0)).toBe(true);
    expect((await store.getBot('alpha'))?.id).toBe('alpha');
    await store.close();
  });

  it('rejects unknown schemes and malformed URLs, naming the setting and the accepted forms', () => {
    for (const url of ['postgres://x', 'berth.db', 'sqlite:', 'sqlite://relative/path']) {
      let caught: unknown;
      try {
        openStore(url);
      } catch (err) {
        caught = err;
      }
      expect(caught, url).toBeInstanceOf(ValidationError);
      const issue = (caught as ValidationError).issues[0];
      expect(issue?.field).toBe('store');
      expect(issue?.message).toContain('sqlite:<path>');
    }
  });
});
