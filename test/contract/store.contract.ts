/**
 * Conformance suite of the DesiredStateStore port (src/ports/store.ts). Every adapter runs
 * exactly this suite: `desiredStateStoreContract('sqlite', async () => ({ store, connect, cleanup }))`.
 * The factory returns a fresh, empty store; `connect()` opens another, independent
 * connection to the same data (a second process, as far as the store can tell).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Bot } from '../../src/domain/bot.js';
import { ValidationError } from '../../src/domain/errors.js';
import { MAX_RUN_PAGE, type Run, type ScheduleState } from '../../src/domain/run.js';
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

export function makeRun(botId: string, runId: string, overrides: Partial<Run> = {}): Run {
  return {
    runId,
    botId,
    trigger: 'cron',
    scheduledFor: '2026-03-08T13:00:00.000Z',
    createdAt: '2026-03-08T13:00:00.010Z',
    status: 'running',
    containerName: `berth-${botId}-${runId}`,
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

    it('has one installation id: the same for every connection, racing first calls and reopening; another store has another', async () => {
      const other = await connect();
      const [a, b, c] = await Promise.all([store.installationId(), other.installationId(), store.installationId()]);
      expect(a).toMatch(/^[0-9a-f]{16}$/);
      expect([b, c]).toEqual([a, a]);
      await store.close();
      expect(await (await connect()).installationId()).toBe(a);
      const elsewhere = await make();
      try {
        await elsewhere.store.init();
        expect(await elsewhere.store.installationId()).not.toBe(a);
      } finally {
        await elsewhere.store.close();
        await elsewhere.cleanup();
      }
    });

    it('keeps data across connections closing and reopening', async () => {
      await store.writeBot(makeBot('alpha'), 0);
      await store.writeStatus({ botId: 'alpha', phase: 'stopped', restartCount: 1, updatedAt: '2024-01-01T00:00:00.000Z' });
      await store.close();
      const reopened = await connect();
      expect(await reopened.getBot('alpha')).toEqual(makeBot('alpha'));
      expect((await reopened.getStatus('alpha'))?.phase).toBe('stopped');
    });

    it('creates a run once, reads it back unchanged, replaces it with writeRun', async () => {
      const run = makeRun('alpha', 'c-1', { startedAt: '2026-03-08T13:00:00.120Z' });
      expect(await store.getRun('alpha', 'c-1')).toBeNull();
      expect(await store.createRun(run)).toBe(true);
      expect(await store.createRun({ ...run, trigger: 'manual' })).toBe(false);
      expect(await store.getRun('alpha', 'c-1')).toEqual(run);
      const done: Run = {
        ...run,
        status: 'succeeded',
        finishedAt: '2026-03-08T13:00:01.000Z',
        exitCode: 0,
        outputTail: ['hello', 'größe ✓', ''],
        reason: 'why not',
      };
      await store.writeRun(done);
      expect(await store.getRun('alpha', 'c-1')).toEqual(done);
      // Same runId under another bot is another record; writeRun also creates.
      await store.writeRun(makeRun('beta', 'c-1', { status: 'skipped' }));
      expect((await store.getRun('beta', 'c-1'))?.status).toBe('skipped');
      expect((await store.getRun('alpha', 'c-1'))?.status).toBe('succeeded');
    });

    it('lets exactly one of two racing run creators win', async () => {
      const other = await connect();
      for (let round = 0; round < 10; round++) {
        const [a, b] = await Promise.all([
          store.createRun(makeRun('alpha', `r-${round}`, { reason: 'mine' })),
          other.createRun(makeRun('alpha', `r-${round}`, { reason: 'theirs' })),
        ]);
        expect([a, b].filter(Boolean)).toHaveLength(1);
        expect((await other.getRun('alpha', `r-${round}`))?.reason).toBe(a ? 'mine' : 'theirs');
      }
    });

    it('lists runs of one bot newest first by createdAt then runId, bounded', async () => {
      const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
      await store.writeRun(makeRun('alpha', 'b', { createdAt: at(5) }));
      await store.writeRun(makeRun('alpha', 'a', { createdAt: at(5) }));
      await store.writeRun(makeRun('alpha', 'z', { createdAt: at(1) }));
      await store.writeRun(makeRun('alpha', 'm', { createdAt: at(9) }));
      await store.writeRun(makeRun('other', 'x', { createdAt: at(7) }));
      const ids = (runs: Run[]) => runs.map((r) => r.runId);
      expect(ids(await store.listRuns('alpha'))).toEqual(['m', 'b', 'a', 'z']);
      expect(ids(await store.listRuns('alpha', 2))).toEqual(['m', 'b']);
      expect(ids(await store.listRuns('other', 10))).toEqual(['x']);
      expect(await store.listRuns('nobody')).toEqual([]);
      // Nonsense limits still return a bounded page.
      expect(ids(await store.listRuns('alpha', 0))).toEqual(['m']);
      expect(ids(await store.listRuns('alpha', 2.7))).toEqual(['m', 'b']);
    });

    it('never returns more than MAX_RUN_PAGE runs at once', async () => {
      const base = Date.UTC(2026, 0, 1);
      for (let i = 0; i < MAX_RUN_PAGE + 5; i++) {
        await store.writeRun(makeRun('alpha', `r${String(i).padStart(4, '0')}`, { createdAt: new Date(base + i * 1000).toISOString() }));
      }
      const page = await store.listRuns('alpha', 10_000);
      expect(page).toHaveLength(MAX_RUN_PAGE);
      expect(page[0]?.runId).toBe(`r${String(MAX_RUN_PAGE + 4).padStart(4, '0')}`);
    }, 60_000);

    it('prunes all but the newest runs of one bot', async () => {
      const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
      for (let i = 0; i < 6; i++) await store.writeRun(makeRun('alpha', `r${i}`, { createdAt: at(i) }));
      await store.writeRun(makeRun('beta', 'r0', { createdAt: at(0) }));
      expect(await store.pruneRuns('alpha', 2)).toBe(4);
      expect((await store.listRuns('alpha')).map((r) => r.runId)).toEqual(['r5', 'r4']);
      expect(await store.pruneRuns('alpha', 2)).toBe(0);
      expect(await store.pruneRuns('alpha', 0)).toBe(2);
      expect(await store.listRuns('alpha')).toEqual([]);
      expect(await store.listRuns('beta')).toHaveLength(1);
      await expect(store.pruneRuns('alpha', -1)).rejects.toBeInstanceOf(ValidationError);
    });

    it('creates a schedule state once and advances it only from the expected state', async () => {
      const s0: ScheduleState = { botId: 'alpha', nextRunAt: '2026-03-08T13:00:00.000Z', basis: 'cron-a' };
      const s1: ScheduleState = { ...s0, nextRunAt: '2026-03-08T14:00:00.000Z' };
      expect(await store.getSchedule('alpha')).toBeNull();
      // Advancing a state that does not exist does not create it.
      expect(await store.advanceSchedule(s0, s1)).toBe(false);
      expect(await store.getSchedule('alpha')).toBeNull();
      expect(await store.advanceSchedule(null, s0)).toBe(true);
      expect(await store.advanceSchedule(null, s1)).toBe(false);
      expect(await store.getSchedule('alpha')).toEqual(s0);
      expect(await store.advanceSchedule(s0, s1)).toBe(true);
      expect(await store.getSchedule('alpha')).toEqual(s1);
      // A scheduler that still holds s0 loses.
      expect(await store.advanceSchedule(s0, { ...s0, nextRunAt: '2026-03-08T15:00:00.000Z' })).toBe(false);
      // The basis is part of the condition: same instant, other schedule → no match.
      expect(await store.advanceSchedule({ ...s1, basis: 'cron-b' }, { ...s1, nextRunAt: '2026-03-09T00:00:00.000Z' })).toBe(false);
      const s2: ScheduleState = { botId: 'alpha', nextRunAt: '2026-03-08T13:30:00.000Z', basis: 'cron-b' };
      expect(await store.advanceSchedule(s1, s2)).toBe(true);
      expect(await store.getSchedule('alpha')).toEqual(s2);
      await store.deleteSchedule('alpha');
      await expect(store.deleteSchedule('alpha')).resolves.toBeUndefined();
      expect(await store.getSchedule('alpha')).toBeNull();
      expect(await store.advanceSchedule(null, s0)).toBe(true);
    });

    it('lets exactly one of two schedulers claim each slot', async () => {
      const other = await connect();
      const slot = (i: number) => new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString();
      const [c1, c2] = await Promise.all([
        store.advanceSchedule(null, { botId: 'alpha', nextRunAt: slot(0), basis: 'b' }),
        other.advanceSchedule(null, { botId: 'alpha', nextRunAt: slot(0), basis: 'b' }),
      ]);
      expect([c1, c2].filter(Boolean)).toHaveLength(1);
      let mine = 0;
      let theirs = 0;
      for (let i = 0; i < 30; i++) {
        const expected: ScheduleState = { botId: 'alpha', nextRunAt: slot(i), basis: 'b' };
        const next: ScheduleState = { ...expected, nextRunAt: slot(i + 1) };
        const [a, b] = await Promise.all([store.advanceSchedule(expected, next), other.advanceSchedule(expected, next)]);
        expect([a, b].filter(Boolean)).toHaveLength(1);
        if (a) mine++;
        else theirs++;
      }
      expect(mine + theirs).toBe(30);
      expect((await other.getSchedule('alpha'))?.nextRunAt).toBe(slot(30));
    });

    it('keeps schedules per bot', async () => {
      await store.advanceSchedule(null, { botId: 'alpha', nextRunAt: '2026-01-01T00:00:00.000Z', basis: 'x' });
      await store.advanceSchedule(null, { botId: 'beta', nextRunAt: '2026-02-01T00:00:00.000Z', basis: 'y' });
      await store.deleteSchedule('alpha');
      expect(await store.getSchedule('beta')).toEqual({ botId: 'beta', nextRunAt: '2026-02-01T00:00:00.000Z', basis: 'y' });
    });

    it('honours an aborted signal', async () => {
      await expect(store.getBot('alpha', AbortSignal.abort())).rejects.toThrow();
      await expect(store.writeBot(makeBot('alpha'), 0, AbortSignal.abort())).rejects.toThrow();
      expect(await store.getBot('alpha')).toBeNull();
      await expect(store.createRun(makeRun('alpha', 'r'), AbortSignal.abort())).rejects.toThrow();
      await expect(store.advanceSchedule(null, { botId: 'alpha', nextRunAt: '2026-01-01T00:00:00.000Z', basis: 'b' }, AbortSignal.abort())).rejects.toThrow();
      expect(await store.getRun('alpha', 'r')).toBeNull();
      expect(await store.getSchedule('alpha')).toBeNull();
    });

    it('close is idempotent', async () => {
      await store.close();
      await expect(store.close()).resolves.toBeUndefined();
    });
  });
}
