/**
 * Desired-state store on MongoDB (production, DESIGN §2), through the official driver.
 *
 * Every record is one document keyed by `_id` (a hash of its natural key, see keys.ts) with
 * the natural key and the fields queries need beside it, and the record itself as JSON text
 * (`json`): field names such as `a.b` or `$x` in a bot's config then need no escaping, and a
 * record reads back exactly as written. Conditional writes are single-document operations
 * filtered on `generation` (update) or an insert that the `_id` makes unique (create): no
 * transactions, change streams or unique secondary indexes, so a MongoDB wire-protocol
 * server such as CongoDB serves as well as mongod (docs/operations.md lists what it lacks).
 *
 * The client reconnects by itself after an outage; until then every call fails after the
 * server-selection timeout with UnavailableError, which BotService and the API report.
 */
import { MongoClient, type Collection, type Db, type Document, type Filter } from 'mongodb';
import type { Bot } from '../../../domain/bot.js';
import type { Run, ScheduleState } from '../../../domain/run.js';
import { UnavailableError } from '../../../domain/errors.js';
import type { BotStatus } from '../../../domain/status.js';
import type { BotQuery, DesiredStateStore } from '../../../ports/store.js';
import { assertNextGeneration } from '../generation.js';
import { newInstallationId } from '../installation-id.js';
import { abortable, storeError } from './errors.js';
import { docId } from './keys.js';
import * as history from './runs.js';
import { insertUnlessExists, upsert } from './writes.js';
import { parseMongoUrl, type MongoTarget } from './url.js';

/** Collections and the indexes init() creates (all non-unique: only `_id` is unique). */
export const COLLECTIONS = {
  bots: { name: 'bots', indexes: [{ key: { id: 1 }, name: 'by_id' }, { key: { kind: 1, enabled: 1, id: 1 }, name: 'by_kind_enabled_id' }] },
  statuses: { name: 'statuses', indexes: [{ key: { botId: 1 }, name: 'by_bot' }] },
  meta: { name: 'meta', indexes: [] },
  ...history.RUN_COLLECTIONS,
} as const;

type CollectionName = keyof typeof COLLECTIONS;

interface BotDoc extends Document {
  id: string;
  generation: number;
  kind: string;
  enabled: boolean;
  json: string;
}

/** Meta records are keyed like the others (docId), under a key no bot or run id can be. */
const META_KEY_PREFIX = '\0meta';
const INSTALLATION_KEY = 'installation';

interface MetaDoc extends Document {
  key: string;
  value: string;
}

interface StatusDoc extends Document {
  botId: string;
  json: string;
}

interface Connection {
  readonly client: MongoClient;
  readonly db: Db;
}

export class MongoStore implements DesiredStateStore {
  readonly target: MongoTarget;
  private connecting: Promise<Connection> | undefined;
  private closed = false;

  /** Throws ValidationError (field `store`) for a malformed URL; connects only on first use. */
  constructor(url: string) {
    this.target = parseMongoUrl(url);
  }

  /** The database in use (from the URL's path, default `berth`). */
  get database(): string {
    return this.target.database;
  }

  async init(signal?: AbortSignal): Promise<void> {
    await this.connection(signal);
  }

  async installationId(signal?: AbortSignal): Promise<string> {
    return this.run('read installation id', signal, async (db) => {
      const meta = db.collection<MetaDoc>(COLLECTIONS.meta.name);
      // The first insert wins (the _id is unique); every process then reads the same id.
      const key = { _id: docId(META_KEY_PREFIX, INSTALLATION_KEY), key: INSTALLATION_KEY };
      await insertUnlessExists(meta, { ...key, value: newInstallationId() }, signal);
      const doc = await meta.findOne(key, { signal });
      if (!doc) throw new UnavailableError('store', 'the installation id just written cannot be read back');
      return doc.value;
    });
  }

  async getBot(id: string, signal?: AbortSignal): Promise<Bot | null> {
    return this.run('read bot', signal, async (db) => {
      const doc = await bots(db).findOne({ _id: docId(id), id }, { signal, projection: { json: 1 } });
      return doc ? (JSON.parse(doc.json) as Bot) : null;
    });
  }

  async listBots(query: BotQuery = {}, signal?: AbortSignal): Promise<Bot[]> {
    const filter: Filter<BotDoc> = {};
    if (query.kind !== undefined) filter.kind = query.kind;
    if (query.enabled !== undefined) filter.enabled = query.enabled;
    return this.run('list bots', signal, async (db) => {
      const docs = await bots(db).find(filter, { signal, projection: { json: 1 } }).sort({ id: 1 }).toArray();
      return docs.map((d) => JSON.parse(d.json) as Bot);
    });
  }

  async writeBot(bot: Bot, expectedGeneration: number, signal?: AbortSignal): Promise<boolean> {
    assertNextGeneration(bot, expectedGeneration);
    const fields = { id: bot.id, generation: bot.generation, kind: bot.kind, enabled: bot.enabled, json: JSON.stringify(bot) };
    return this.run('write bot', signal, async (db) => {
      if (expectedGeneration === 0) return insertUnlessExists(bots(db), { _id: docId(bot.id), ...fields }, signal);
      const result = await abortable(bots(db).updateOne({ _id: docId(bot.id), id: bot.id, generation: expectedGeneration }, { $set: fields }), signal);
      return result.matchedCount === 1;
    });
  }

  async deleteBot(id: string, signal?: AbortSignal): Promise<boolean> {
    return this.run('delete bot', signal, async (db) => {
      const result = await abortable(bots(db).deleteOne({ _id: docId(id), id }), signal);
      return result.deletedCount > 0;
    });
  }

  async getStatus(botId: string, signal?: AbortSignal): Promise<BotStatus | null> {
    return this.run('read status', signal, async (db) => {
      const doc = await statuses(db).findOne({ _id: docId(botId), botId }, { signal, projection: { json: 1 } });
      return doc ? (JSON.parse(doc.json) as BotStatus) : null;
    });
  }

  async listStatuses(signal?: AbortSignal): Promise<BotStatus[]> {
    return this.run('list statuses', signal, async (db) => {
      const docs = await statuses(db).find({}, { signal, projection: { json: 1 } }).sort({ botId: 1 }).toArray();
      return docs.map((d) => JSON.parse(d.json) as BotStatus);
    });
  }

  async writeStatus(status: BotStatus, signal?: AbortSignal): Promise<void> {
    await this.run('write status', signal, (db) =>
      upsert(statuses(db), { _id: docId(status.botId), botId: status.botId }, { botId: status.botId, json: JSON.stringify(status) }, signal),
    );
  }

  async deleteStatus(botId: string, signal?: AbortSignal): Promise<void> {
    await this.run('delete status', signal, (db) => abortable(statuses(db).deleteOne({ _id: docId(botId), botId }), signal));
  }

  createRun(run: Run, signal?: AbortSignal): Promise<boolean> {
    return this.run('create run', signal, (db) => history.createRun(db, run, signal));
  }

  writeRun(run: Run, signal?: AbortSignal): Promise<void> {
    return this.run('write run', signal, (db) => history.writeRun(db, run, signal));
  }

  getRun(botId: string, runId: string, signal?: AbortSignal): Promise<Run | null> {
    return this.run('read run', signal, (db) => history.getRun(db, botId, runId, signal));
  }

  listRuns(botId: string, limit?: number, signal?: AbortSignal): Promise<Run[]> {
    return this.run('list runs', signal, (db) => history.listRuns(db, botId, limit, signal));
  }

  pruneRuns(botId: string, keep: number, signal?: AbortSignal): Promise<number> {
    return this.run('prune runs', signal, (db) => history.pruneRuns(db, botId, keep, signal));
  }

  getSchedule(botId: string, signal?: AbortSignal): Promise<ScheduleState | null> {
    return this.run('read schedule', signal, (db) => history.getSchedule(db, botId, signal));
  }

  advanceSchedule(expected: ScheduleState | null, next: ScheduleState, signal?: AbortSignal): Promise<boolean> {
    return this.run('advance schedule', signal, (db) => history.advanceSchedule(db, expected, next, signal));
  }

  deleteSchedule(botId: string, signal?: AbortSignal): Promise<void> {
    return this.run('delete schedule', signal, (db) => history.deleteSchedule(db, botId, signal));
  }

  async ping(signal?: AbortSignal): Promise<void> {
    await this.run('ping', signal, (db) => db.command({ ping: 1 }, { signal }));
  }

  async close(): Promise<void> {
    this.closed = true;
    const connecting = this.connecting;
    this.connecting = undefined;
    const connection = await connecting?.catch(() => undefined);
    await connection?.client.close().catch(() => undefined);
  }

  /** Connects and creates the indexes once; a failed attempt is forgotten so the next call retries. */
  private connection(signal?: AbortSignal): Promise<Connection> {
    if (this.closed) return Promise.reject(new UnavailableError('store', `${this.target.redacted} is closed`));
    signal?.throwIfAborted();
    if (!this.connecting) {
      const attempt = this.connect();
      this.connecting = attempt;
      attempt.catch(() => {
        if (this.connecting === attempt) this.connecting = undefined;
      });
    }
    // A caller's abort stops its wait, not the shared attempt.
    return abortable(this.connecting, signal);
  }

  private async connect(): Promise<Connection> {
    const client = new MongoClient(this.target.url, this.target.options);
    try {
      await client.connect();
      const db = client.db(this.target.database);
      await createIndexes(db);
      return { client, db };
    } catch (err) {
      await client.close().catch(() => undefined);
      throw storeError('cannot connect', this.target.redacted, err);
    }
  }

  private async run<T>(what: string, signal: AbortSignal | undefined, fn: (db: Db) => Promise<T>): Promise<T> {
    try {
      const { db } = await this.connection(signal);
      return await fn(db);
    } catch (err) {
      throw storeError(what, this.target.redacted, err, signal);
    }
  }
}

function bots(db: Db): Collection<BotDoc> {
  return db.collection<BotDoc>(COLLECTIONS.bots.name);
}

function statuses(db: Db): Collection<StatusDoc> {
  return db.collection<StatusDoc>(COLLECTIONS.statuses.name);
}

/** Idempotent: creating an index that exists with the same keys and name does nothing. */
async function createIndexes(db: Db): Promise<void> {
  for (const name of Object.keys(COLLECTIONS) as CollectionName[]) {
    const spec = COLLECTIONS[name];
    if (spec.indexes.length === 0) continue;
    await db.collection(spec.name).createIndexes(spec.indexes.map((i) => ({ key: { ...i.key }, name: i.name })));
  }
}
