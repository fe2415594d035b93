/**
 * Conformance suite of the DesiredStateStore port (src/ports/store.ts). Every adapter runs
 * exactly this suite: `desiredStateStoreContract('sqlite', async () => ({ store, connect, cleanup }))`.
 * The factory returns a fresh, empty store; `connect()` opens another, independent
 * connection to the same data (a second process, as far as the store can tell).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Bot } from '../../src/domain/bot.js';
import { ValidationError } from '../../src/domain/errors.js';
import type { BotStatus } from '../../src/domain/status.js';
import type { DesiredStateStore } from '../../src/ports/store.js';

export interface DesiredStateStoreFixture {
  readonly store: DesiredStateStore;
  /** Another connection to the same data; the suite closes what it opens. */
  connect(): Promise<DesiredStateStore>;
  cleanup(): Promise<void>;
}

export function makeBot(id: string, overrides: Partial<Bot> = {}): Bot {
  const sha256 = 'a'.repeat(64);
  return {
    id,
    name: `Bot ${id}`,
    kind: 'live',
    runtime: 'python3.11',
    entrypoint: 'main.py',
    code: { key: `code/${id}/${sha256}.tar.gz`, sha256, size: 1234, format: 'tar.gz', version: 'v1' },
    flavor: 'berth',
    config: { symbol: 'BTC', nested: { levels: [1, 2, 3], on: true, none: null } },
    env: { MODE: 'paper', 'UNICODE_VALUE': 'größe ✓' },
    resources: { memoryMb: 512, cpus: 1, pids: 256 },
    enabled: true,
    createdAt: '2024-01-01T00:00:00.000Z',
    updatedAt: '2024-01-01T00:00:00.000Z',
    generation: 1,
    ...overrides,
  };
}

/** The next version of a bot, as a writer that read `bot` would produce it. */
export function nextVersion(bot: Bot, changes: Partial<Bot> = {}): Bot {
  return { ...bot, ...changes, generation: bot.generation + 1, updatedAt: new Date().toISOString() };
}

export function desiredStateStoreContract(name: string, make: () => Promise<DesiredStateStoreFixture>): void {
  describe(`DesiredStateStore contract: ${name}`, () => {
    let fixture: DesiredStateStoreFixture;
    let store: DesiredStateStore;
    const extra: DesiredStateStore[] = [];

    async function connect(): Promise<DesiredStateStore> {
      const other = await fixture.connect();
      extra.push(other);
      await other.init();
      return other;
    }

    beforeEach(async () => {
      fixture = await make();
      store = fixture.store;
      await store.init();
    });
    afterEach(async () => {
      for (const other of extra.splice(0)) await other.close();
      await store.close();
      await fixture.cleanup();
    });

    it('init is idempotent and ping succeeds', async () => {
      await store.init();
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('returns null for a missing bot', async () => {
      expect(await store.getBot('missing')).toBeNull();
    });

    it('creates a bot with expected generation 0 and reads it back unchanged', async () => {
      const bot = makeBot('alpha', {
        kind: 'scheduled',
        schedule: { cron: '*/5 * * * *', timezone: 'Europe/Berlin', overlap: 'skip', catchUp: 'latest', maxRuntimeSeconds: 60 },
        flavor: 'the0',
      });
      expect(await store.writeBot(bot, 0)).toBe(true);
      expect(await store.getBot('alpha')).toEqual(bot);
    });

    it('refuses to create a bot whose id exists', async () => {
      const bot = makeBot('alpha');
      expect(await store.writeBot(bot, 0)).toBe(true);
      expect(await store.writeBot(makeBot('alpha', { name: 'impostor' }), 0)).toBe(false);
      expect((await store.getBot('alpha'))?.name).toBe('Bot alpha');
    });

    it('updates only when the stored generation is the expected one', async () => {
      const v1 = makeBot('alpha');
      await store.writeBot(v1, 0);
      const v2 = nextVersion(v1, { config: { symbol: 'ETH' } });
      expect(await store.writeBot(v2, 1)).toBe(true);
      expect(await store.getBot('alpha')).toEqual(v2);
      // A writer that still holds v1 loses.
      expect(await store.writeBot(nextVersion(v1, { name: 'stale' }), 1)).toBe(false);
      expect(await store.getBot('alpha')).toEqual(v2);
      // An update of a bot that does not exist does not create it.
      expect(await store.writeBot(makeBot('ghost', { generation: 4 }), 3)).toBe(false);
      expect(await store.getBot('ghost')).toBeNull();
    });

    it('rejects a write whose generation is not expected + 1', async () => {
      await expect(store.writeBot(makeBot('alpha', { generation: 5 }), 0)).rejects.toBeInstanceOf(ValidationError);
      await store.writeBot(makeBot('alpha'), 0);
      await expect(store.writeBot(makeBot('alpha', { generation: 1 }), 1)).rejects.toBeInstanceOf(ValidationError);
      await expect(store.writeBot(makeBot('alpha', { generation: 0 }), -1)).rejects.toBeInstanceOf(ValidationError);
      expect((await store.getBot('alpha'))?.generation).toBe(1);
    });

    it('lets exactly one of two racing writers with the same expected generation win', async () => {
      const other = await connect();
      const v1 = makeBot('alpha');
      await store.writeBot(v1, 0);
      for (let round = 1; round <= 20; round++) {
        const current = (await store.getBot('alpha')) as Bot;
        const mine = nextVersion(current, { name: `mine ${round}` });
        const theirs = nextVersion(current, { name: `theirs ${round}` });
        const [a, b] = await Promise.all([store.writeBot(mine, current.generation), other.writeBot(theirs, current.generation)]);
        expect([a, b].filter(Boolean)).toHaveLength(1);
        const stored = await other.getBot('alpha');
        expect(stored).toEqual(a ? mine : theirs);
      }
      expect((await store.getBot('alpha'))?.generation).toBe(21);
    });

    it('lets exactly one of two racing creators win', async () => {
      const other = await connect();
      for (let round = 0; round < 10; round++) {
        const id = `racer-${round}`;
        const [a, b] = await Promise.all([
          store.writeBot(makeBot(id, { name: 'mine' }), 0),
          other.writeBot(makeBot(id, { name: 'theirs' }), 0),
        ]);
        expect([a, b].filter(Boolean)).toHaveLength(1);
        expect((await store.getBot(id))?.name).toBe(a ? 'mine' : 'theirs');
      }
    });

    it('sees writes made through another connection', async () => {
      const other = await connect();
      await other.writeBot(makeBot('alpha'), 0);
      expect((await store.getBot('alpha'))?.id).toBe('alpha');
      expect(await store.deleteBot('alpha')).toBe(true);
      expect(await other.getBot('alpha')).toBeNull();
    });

    it('lists bots sorted by id, filtered by kind and enabled', async () => {
      const bots = [
        makeBot('zeta'),
        makeBot('alpha', { enabled: false }),
        makeBot('mid-1', { kind: 'scheduled', schedule: { cron: '@hourly', timezone: 'UTC', overlap: 'skip', catchUp: 'none' } }),
        makeBot('beta'),
        makeBot('mid-0', { kind: 'scheduled', enabled: false, schedule: { cron: '0 * * * *', timezone: 'UTC', overlap: 'allow', catchUp: 'none' } }),
      ];
      for (const bot of bots) await store.writeBot(bot, 0);
      const ids = (list: Bot[]) => list.map((b) => b.id);
      expect(ids(await store.listBots())).toEqual(['alpha', 'beta', 'mid-0', 'mid-1', 'zeta']);
      expect(ids(await store.listBots({}))).toEqual(['alpha', 'beta', 'mid-0', 'mid-1', 'zeta']);
      expect(ids(await store.listBots({ kind: 'live' }))).toEqual(['alpha', 'beta', 'zeta']);
      expect(ids(await store.listBots({ kind: 'scheduled' }))).toEqual(['mid-0', 'mid-1']);
      expect(ids(await store.listBots({ enabled: true }))).toEqual(['beta', 'mid-1', 'zeta']);
      expect(ids(await store.listBots({ kind: 'live', enabled: true }))).toEqual(['beta', 'zeta']);
      expect(ids(await store.listBots({ kind: 'scheduled', enabled: false }))).toEqual(['mid-0']);
      expect((await store.listBots({ kind: 'live', enabled: false }))[0]).toEqual(bots[1]);
    });

    it('follows changes of kind and enabled in the filters', async () => {
      const v1 = makeBot('alpha');
      await store.writeBot(v1, 0);
      await store.writeBot(nextVersion(v1, { enabled: false }), 1);
      expect(await store.listBots({ enabled: true })).toEqual([]);
      expect((await store.listBots({ enabled: false })).map((b) => b.id)).toEqual(['alpha']);
    });

    it('deletes a bot once', async () => {
      await store.writeBot(makeBot('alpha'), 0);
      expect(await store.deleteBot('alpha')).toBe(true);
      expect(await store.deleteBot('alpha')).toBe(false);
      expect(await store.getBot('alpha')).toBeNull();
      expect(await store.listBots()).toEqual([]);
      // The id can be created again.
      expect(await store.writeBot(makeBot('alpha'), 0)).toBe(true);
    });

    it('round-trips statuses, last writer wins', async () => {
      expect(await store.getStatus('alpha')).toBeNull();
      const full: BotStatus = {
        botId: 'alpha',
        phase: 'crash-looping',
        containerId: 'c0ffee',
        restartCount: 7,
        lastExitCode: 1,
        lastExitAt: '2024-01-01T00:00:05.000Z',
        lastError: 'exited with code 1: Traceback …',
        backoffUntil: '2024-01-01T00:01:00.000Z',
        backoffCount: 2,
        specHash: 'b'.repeat(64),
        updatedAt: '2024-01-01T00:00:06.000Z',
      };
      await store.writeStatus(full);
      expect(await store.getStatus('alpha')).toEqual(full);
      const minimal: BotStatus = { botId: 'alpha', phase: 'running', restartCount: 0, updatedAt: '2024-01-01T00:02:00.000Z' };
      await store.writeStatus(minimal);
      expect(await store.getStatus('alpha')).toEqual(minimal);
      await store.writeStatus({ ...minimal, botId: 'beta', phase: 'pending' });
      const listed = await store.listStatuses();
      expect(listed.map((s) => s.botId).sort()).toEqual(['alpha', 'beta']);
      expect(listed.find((s) => s.botId === 'beta')?.phase).toBe('pending');
    });

    it('deletes statuses idempotently and independently of bots', async () => {
      await store.writeBot(makeBot('alpha'), 0);
      await store.writeStatus({ botId: 'alpha', phase: 'running', restartCount: 0, updatedAt: '2024-01-01T00:00:00.000Z' });
      await store.deleteStatus('alpha');
      await expect(store.deleteStatus('alpha')).resolves.toBeUndefined();
      expect(await store.getStatus('alpha')).toBeNull();
      expect(await store.listStatuses()).toEqual([]);
      expect(await store.getBot('alpha')).not.toBeNull();
    });

    it('keeps data across connections closing and reopening', async () => {
      await store.writeBot(makeBot('alpha'), 0);
      await store.writeStatus({ botId: 'alpha', phase: 'stopped', restartCount: 1, updatedAt: '2024-01-01T00:00:00.000Z' });
      await store.close();
      const reopened = await connect();
      expect(await reopened.getBot('alpha')).toEqual(makeBot('alpha'));
      expect((await reopened.getStatus('alpha'))?.phase).toBe('stopped');
    });

    it('honours an aborted signal', async () => {
      await expect(store.getBot('alpha', AbortSignal.abort())).rejects.toThrow();
      await expect(store.writeBot(makeBot('alpha'), 0, AbortSignal.abort())).rejects.toThrow();
      expect(await store.getBot('alpha')).toBeNull();
    });

    it('close is idempotent', async () => {
      await store.close();
      await expect(store.close()).resolves.toBeUndefined();
    });
  });
}
