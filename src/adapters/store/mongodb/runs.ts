/**
 * Run history and schedule claims (DESIGN §3, §8) on MongoDB. A run is keyed by
 * (botId, runId) through its `_id`, so `createRun` is an insert that only the first writer
 * wins; a schedule claim is one `updateOne` filtered on the state the claimer read, so of
 * two schedulers that read the same slot exactly one moves it.
 */
import type { Collection, Db, Document } from 'mongodb';
import { ValidationError } from '../../../domain/errors.js';
import { DEFAULT_RUN_PAGE, runPageSize, type Run, type ScheduleState } from '../../../domain/run.js';
import { abortable } from './errors.js';
import { docId } from './keys.js';
import { insertUnlessExists, upsert } from './writes.js';

export const RUN_COLLECTIONS = {
  // listRuns and pruneRuns walk a bot's history newest first.
  runs: { name: 'runs', indexes: [{ key: { botId: 1, createdAt: -1, runId: -1 }, name: 'by_bot_age' }] },
  schedules: { name: 'schedules', indexes: [] },
} as const;

interface RunDoc extends Document {
  botId: string;
  runId: string;
  createdAt: string;
  json: string;
}

interface ScheduleDoc extends Document {
  botId: string;
  nextRunAt: string;
  basis: string;
}

const NEWEST_FIRST = { createdAt: -1, runId: -1 } as const;

function runs(db: Db): Collection<RunDoc> {
  return db.collection<RunDoc>(RUN_COLLECTIONS.runs.name);
}

function schedules(db: Db): Collection<ScheduleDoc> {
  return db.collection<ScheduleDoc>(RUN_COLLECTIONS.schedules.name);
}

function runDoc(run: Run): RunDoc {
  return { botId: run.botId, runId: run.runId, createdAt: run.createdAt, json: JSON.stringify(run) };
}

export function createRun(db: Db, run: Run, signal?: AbortSignal): Promise<boolean> {
  return insertUnlessExists(runs(db), { _id: docId(run.botId, run.runId), ...runDoc(run) }, signal);
}

export function writeRun(db: Db, run: Run, signal?: AbortSignal): Promise<void> {
  return upsert(runs(db), { _id: docId(run.botId, run.runId), botId: run.botId, runId: run.runId }, runDoc(run), signal);
}

export async function getRun(db: Db, botId: string, runId: string, signal?: AbortSignal): Promise<Run | null> {
  const doc = await runs(db).findOne({ _id: docId(botId, runId), botId, runId }, { signal, projection: { json: 1 } });
  return doc ? (JSON.parse(doc.json) as Run) : null;
}

export async function listRuns(db: Db, botId: string, limit = DEFAULT_RUN_PAGE, signal?: AbortSignal): Promise<Run[]> {
  const docs = await runs(db)
    .find({ botId }, { signal, projection: { json: 1 } })
    .sort(NEWEST_FIRST)
    .limit(runPageSize(limit))
    .toArray();
  return docs.map((d) => JSON.parse(d.json) as Run);
}

/** Reads the ids past the newest `keep`, then deletes exactly those (a run created meanwhile stays). */
export async function pruneRuns(db: Db, botId: string, keep: number, signal?: AbortSignal): Promise<number> {
  if (!Number.isSafeInteger(keep) || keep < 0) throw ValidationError.single('keep', 'must be a non-negative whole number');
  const old = await runs(db).find({ botId }, { signal, projection: { _id: 1 } }).sort(NEWEST_FIRST).skip(keep).toArray();
  if (old.length === 0) return 0;
  const result = await abortable(runs(db).deleteMany({ _id: { $in: old.map((d) => d._id) }, botId }), signal);
  return result.deletedCount;
}

export async function getSchedule(db: Db, botId: string, signal?: AbortSignal): Promise<ScheduleState | null> {
  const doc = await schedules(db).findOne({ _id: docId(botId), botId }, { signal });
  return doc ? { botId, nextRunAt: doc.nextRunAt, basis: doc.basis } : null;
}

export async function advanceSchedule(db: Db, expected: ScheduleState | null, next: ScheduleState, signal?: AbortSignal): Promise<boolean> {
  if (expected && expected.botId !== next.botId) {
    throw ValidationError.single('botId', `expected and next name different bots (${expected.botId}, ${next.botId})`);
  }
  const fields = { botId: next.botId, nextRunAt: next.nextRunAt, basis: next.basis };
  if (expected === null) return insertUnlessExists(schedules(db), { _id: docId(next.botId), ...fields }, signal);
  const filter = { _id: docId(next.botId), botId: next.botId, nextRunAt: expected.nextRunAt, basis: expected.basis };
  const result = await abortable(schedules(db).updateOne(filter, { $set: fields }), signal);
  return result.matchedCount === 1;
}

export async function deleteSchedule(db: Db, botId: string, signal?: AbortSignal): Promise<void> {
  await abortable(schedules(db).deleteOne({ _id: docId(botId), botId }), signal);
}
