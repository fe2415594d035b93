/**
 * Desired-state store on one SQLite file (the embedded default, DESIGN §2). Bots are JSON
 * documents keyed by id with their generation in its own column, so a conditional write is
 * one statement: several processes sharing the file stay consistent without transactions.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Bot } from '../../../domain/bot.js';
import { BerthError, UnavailableError, ValidationError, errorMessage } from '../../../domain/errors.js';
import { DEFAULT_RUN_PAGE, runPageSize, type Run, type ScheduleState } from '../../../domain/run.js';
import type { BotStatus } from '../../../domain/status.js';
import type { BotQuery, DesiredStateStore } from '../../../ports/store.js';
import { assertNextGeneration } from '../generation.js';
import { newInstallationId } from '../installation-id.js';

/** How long a writer waits for another process's lock before reporting the store busy. */
const BUSY_TIMEOUT_MS = 5000;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS bots (
    id TEXT PRIMARY KEY NOT NULL,
    generation INTEGER NOT NULL,
    kind TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    doc TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS statuses (
    bot_id TEXT PRIMARY KEY NOT NULL,
    doc TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS runs (
    bot_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (bot_id, run_id)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS runs_by_age ON runs (bot_id, created_at DESC, run_id DESC);
  CREATE TABLE IF NOT EXISTS schedules (
    bot_id TEXT PRIMARY KEY NOT NULL,
    next_run_at TEXT NOT NULL,
    basis TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
`;

export const SQLITE_MEMORY = ':memory:';

export class SqliteStore implements DesiredStateStore {
  /** Absolute path of the database file, or `:memory:`. */
  readonly file: string;
  private db: Database.Database | undefined;
  private readonly statements = new Map<string, Database.Statement>();
  private closed = false;

  constructor(file: string) {
    this.file = file === SQLITE_MEMORY ? file : path.resolve(file);
  }

  async init(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    this.connection();
  }

  async installationId(signal?: AbortSignal): Promise<string> {
    // The first insert wins; every process then reads the same id.
    return this.run(signal, 'read installation id', (db) => {
      this.prepare(db, "INSERT INTO meta (key, value) VALUES ('installation', ?) ON CONFLICT(key) DO NOTHING").run(newInstallationId());
      return this.prepare<[], { value: string }>(db, "SELECT value FROM meta WHERE key = 'installation'").get()!.value;
    });
  }

  async getBot(id: string, signal?: AbortSignal): Promise<Bot | null> {
    const row = this.run(signal, 'read bot', (db) =>
      this.prepare<[string], { doc: string }>(db, 'SELECT doc FROM bots WHERE id = ?').get(id),
    );
    return row ? (JSON.parse(row.doc) as Bot) : null;
  }

  async listBots(query: BotQuery = {}, signal?: AbortSignal): Promise<Bot[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (query.kind !== undefined) {
      where.push('kind = ?');
      params.push(query.kind);
    }
    if (query.enabled !== undefined) {
      where.push('enabled = ?');
      params.push(query.enabled ? 1 : 0);
    }
    const sql = `SELECT doc FROM bots ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id`;
    const rows = this.run(signal, 'list bots', (db) => this.prepare<unknown[], { doc: string }>(db, sql).all(...params));
    return rows.map((r) => JSON.parse(r.doc) as Bot);
  }

  async writeBot(bot: Bot, expectedGeneration: number, signal?: AbortSignal): Promise<boolean> {
    assertNextGeneration(bot, expectedGeneration);
    const values = { id: bot.id, generation: bot.generation, kind: bot.kind, enabled: bot.enabled ? 1 : 0, doc: JSON.stringify(bot) };
    const result = this.run(signal, 'write bot', (db) =>
      expectedGeneration === 0
        ? this
            .prepare(db, 'INSERT INTO bots (id, generation, kind, enabled, doc) VALUES (@id, @generation, @kind, @enabled, @doc) ON CONFLICT(id) DO NOTHING')
            .run(values)
        : this
            .prepare(db, 'UPDATE bots SET generation = @generation, kind = @kind, enabled = @enabled, doc = @doc WHERE id = @id AND generation = @expected')
            .run({ ...values, expected: expectedGeneration }),
    );
    return result.changes === 1;
  }

  async deleteBot(id: string, signal?: AbortSignal): Promise<boolean> {
    const result = this.run(signal, 'delete bot', (db) => this.prepare(db, 'DELETE FROM bots WHERE id = ?').run(id));
    return result.changes > 0;
  }

  async getStatus(botId: string, signal?: AbortSignal): Promise<BotStatus | null> {
    const row = this.run(signal, 'read status', (db) =>
      this.prepare<[string], { doc: string }>(db, 'SELECT doc FROM statuses WHERE bot_id = ?').get(botId),
    );
    return row ? (JSON.parse(row.doc) as BotStatus) : null;
  }

  async listStatuses(signal?: AbortSignal): Promise<BotStatus[]> {
    const rows = this.run(signal, 'list statuses', (db) =>
      this.prepare<[], { doc: string }>(db, 'SELECT doc FROM statuses ORDER BY bot_id').all(),
    );
    return rows.map((r) => JSON.parse(r.doc) as BotStatus);
  }

  async writeStatus(status: BotStatus, signal?: AbortSignal): Promise<void> {
    this.run(signal, 'write status', (db) =>
      this
        .prepare(db, 'INSERT INTO statuses (bot_id, doc) VALUES (?, ?) ON CONFLICT(bot_id) DO UPDATE SET doc = excluded.doc')
        .run(status.botId, JSON.stringify(status)),
    );
  }

  async deleteStatus(botId: string, signal?: AbortSignal): Promise<void> {
    this.run(signal, 'delete status', (db) => this.prepare(db, 'DELETE FROM statuses WHERE bot_id = ?').run(botId));
  }

  async createRun(run: Run, signal?: AbortSignal): Promise<boolean> {
    const result = this.run(signal, 'create run', (db) =>
      this
        .prepare(db, 'INSERT INTO runs (bot_id, run_id, created_at, doc) VALUES (?, ?, ?, ?) ON CONFLICT(bot_id, run_id) DO NOTHING')
        .run(run.botId, run.runId, run.createdAt, JSON.stringify(run)),
    );
    return result.changes === 1;
  }

  async writeRun(run: Run, signal?: AbortSignal): Promise<void> {
    this.run(signal, 'write run', (db) =>
      this
        .prepare(
          db,
          'INSERT INTO runs (bot_id, run_id, created_at, doc) VALUES (?, ?, ?, ?) ' +
            'ON CONFLICT(bot_id, run_id) DO UPDATE SET created_at = excluded.created_at, doc = excluded.doc',
        )
        .run(run.botId, run.runId, run.createdAt, JSON.stringify(run)),
    );
  }

  async getRun(botId: string, runId: string, signal?: AbortSignal): Promise<Run | null> {
    const row = this.run(signal, 'read run', (db) =>
      this.prepare<[string, string], { doc: string }>(db, 'SELECT doc FROM runs WHERE bot_id = ? AND run_id = ?').get(botId, runId),
    );
    return row ? (JSON.parse(row.doc) as Run) : null;
  }

  async listRuns(botId: string, limit = DEFAULT_RUN_PAGE, signal?: AbortSignal): Promise<Run[]> {
    const bounded = runPageSize(limit);
    const rows = this.run(signal, 'list runs', (db) =>
      this
        .prepare<[string, number], { doc: string }>(
          db,
          'SELECT doc FROM runs WHERE bot_id = ? ORDER BY created_at DESC, run_id DESC LIMIT ?',
        )
        .all(botId, bounded),
    );
    return rows.map((r) => JSON.parse(r.doc) as Run);
  }

  async pruneRuns(botId: string, keep: number, signal?: AbortSignal): Promise<number> {
    if (!Number.isSafeInteger(keep) || keep < 0) throw ValidationError.single('keep', 'must be a non-negative whole number');
    const result = this.run(signal, 'prune runs', (db) =>
      this
        .prepare(
          db,
          'DELETE FROM runs WHERE bot_id = ? AND run_id NOT IN ' +
            '(SELECT run_id FROM runs WHERE bot_id = ? ORDER BY created_at DESC, run_id DESC LIMIT ?)',
        )
        .run(botId, botId, keep),
    );
    return result.changes;
  }

  async getSchedule(botId: string, signal?: AbortSignal): Promise<ScheduleState | null> {
    const row = this.run(signal, 'read schedule', (db) =>
      this
        .prepare<[string], { next_run_at: string; basis: string }>(db, 'SELECT next_run_at, basis FROM schedules WHERE bot_id = ?')
        .get(botId),
    );
    return row ? { botId, nextRunAt: row.next_run_at, basis: row.basis } : null;
  }

  async advanceSchedule(expected: ScheduleState | null, next: ScheduleState, signal?: AbortSignal): Promise<boolean> {
    if (expected && expected.botId !== next.botId) {
      throw ValidationError.single('botId', `expected and next name different bots (${expected.botId}, ${next.botId})`);
    }
    const result = this.run(signal, 'advance schedule', (db) =>
      expected === null
        ? this
            .prepare(db, 'INSERT INTO schedules (bot_id, next_run_at, basis) VALUES (?, ?, ?) ON CONFLICT(bot_id) DO NOTHING')
            .run(next.botId, next.nextRunAt, next.basis)
        : this
            .prepare(db, 'UPDATE schedules SET next_run_at = ?, basis = ? WHERE bot_id = ? AND next_run_at = ? AND basis = ?')
            .run(next.nextRunAt, next.basis, next.botId, expected.nextRunAt, expected.basis),
    );
    return result.changes === 1;
  }

  async deleteSchedule(botId: string, signal?: AbortSignal): Promise<void> {
    this.run(signal, 'delete schedule', (db) => this.prepare(db, 'DELETE FROM schedules WHERE bot_id = ?').run(botId));
  }

  async ping(signal?: AbortSignal): Promise<void> {
    this.run(signal, 'ping', (db) => this.prepare(db, 'SELECT 1').get());
  }

  async close(): Promise<void> {
    this.closed = true;
    const db = this.db;
    this.db = undefined;
    this.statements.clear();
    db?.close();
  }

  /** Opens the file (creating its directory and the schema) on first use. */
  private connection(): Database.Database {
    if (this.closed) throw new UnavailableError('store', `${this.file} is closed`);
    if (this.db) return this.db;
    try {
      if (this.file !== SQLITE_MEMORY) mkdirSync(path.dirname(this.file), { recursive: true });
      const db = new Database(this.file, { timeout: BUSY_TIMEOUT_MS });
      try {
        db.pragma('journal_mode = WAL');
        // Desired state is small and written rarely: full durability costs little.
        db.pragma('synchronous = FULL');
        db.exec(SCHEMA);
      } catch (err) {
        db.close();
        throw err;
      }
      this.db = db;
      return db;
    } catch (err) {
      throw new UnavailableError('store', `cannot open ${this.file}: ${errorMessage(err)}`, { cause: err });
    }
  }

  private prepare<P extends unknown[] | object = unknown[], R = unknown>(db: Database.Database, sql: string): Database.Statement<P, R> {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement as unknown as Database.Statement<P, R>;
  }

  private run<T>(signal: AbortSignal | undefined, what: string, fn: (db: Database.Database) => T): T {
    signal?.throwIfAborted();
    const db = this.connection();
    try {
      return fn(db);
    } catch (err) {
      if (err instanceof BerthError) throw err;
      throw new UnavailableError('store', `${what} in ${this.file}: ${errorMessage(err)}`, { cause: err });
    }
  }
}
