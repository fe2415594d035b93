/**
 * Desired-state store port (DESIGN §2, §3). Adapters: SQLite (embedded default),
 * MongoDB (production). Concurrency is optimistic via `generation`; no transactions,
 * change streams or unique secondary indexes are needed (STACK.md).
 */
import type { Bot, BotKind } from '../domain/bot.js';
import type { Run, ScheduleState } from '../domain/run.js';
import type { BotStatus } from '../domain/status.js';

export interface BotQuery {
  readonly kind?: BotKind;
  readonly enabled?: boolean;
}

export interface DesiredStateStore {
  /** Opens the connection, creates tables/indexes. Idempotent. */
  init(signal?: AbortSignal): Promise<void>;

  getBot(id: string, signal?: AbortSignal): Promise<Bot | null>;
  /** Sorted by id. */
  listBots(query?: BotQuery, signal?: AbortSignal): Promise<Bot[]>;
  /**
   * Conditional write. `expectedGeneration` 0 means "create; fail if the id exists";
   * otherwise the write succeeds only if the stored generation equals it.
   * Returns false when the condition did not hold (the caller re-reads and retries).
   */
  writeBot(bot: Bot, expectedGeneration: number, signal?: AbortSignal): Promise<boolean>;
  /** Returns false when there was nothing to delete. */
  deleteBot(id: string, signal?: AbortSignal): Promise<boolean>;

  getStatus(botId: string, signal?: AbortSignal): Promise<BotStatus | null>;
  listStatuses(signal?: AbortSignal): Promise<BotStatus[]>;
  /** Last writer wins; statuses are observations, not decisions. */
  writeStatus(status: BotStatus, signal?: AbortSignal): Promise<void>;
  deleteStatus(botId: string, signal?: AbortSignal): Promise<void>;

  /**
   * Run history (DESIGN §3). Records are keyed by (botId, runId). Creates only when no record
   * with that key exists; returns false otherwise (a second scheduler that claimed nothing
   * cannot double-book a slot whose runId is derived from it).
   */
  createRun(run: Run, signal?: AbortSignal): Promise<boolean>;
  /** Inserts or replaces by (botId, runId); last writer wins. */
  writeRun(run: Run, signal?: AbortSignal): Promise<void>;
  getRun(botId: string, runId: string, signal?: AbortSignal): Promise<Run | null>;
  /**
   * Newest first: by `createdAt` descending, then `runId` descending. At most
   * `min(limit, MAX_RUN_PAGE)` records; `limit` defaults to DEFAULT_RUN_PAGE.
   */
  listRuns(botId: string, limit?: number, signal?: AbortSignal): Promise<Run[]>;
  /** Deletes all but the newest `keep` runs of a bot (same order as listRuns); returns how many went. */
  pruneRuns(botId: string, keep: number, signal?: AbortSignal): Promise<number>;

  /** The stored next due slot of a scheduled bot, or null when none was stored yet. */
  getSchedule(botId: string, signal?: AbortSignal): Promise<ScheduleState | null>;
  /**
   * Conditional update, the exactly-once claim of DESIGN §8: replaces the stored state with
   * `next` only if it still has `expected.nextRunAt` and `expected.basis`; with `expected`
   * null, creates it only if there is none. Returns false when the condition did not hold
   * (another scheduler moved first). `next.botId` must equal `expected.botId`.
   */
  advanceSchedule(expected: ScheduleState | null, next: ScheduleState, signal?: AbortSignal): Promise<boolean>;
  /** Idempotent. */
  deleteSchedule(botId: string, signal?: AbortSignal): Promise<void>;

  /**
   * The id of the installation this store is the desired state of: made up by the first
   * call on a new store, the same for every process and every call ever after (concurrent
   * first calls agree). Runtimes label what they create with it, so that another Berth on
   * the same Docker Engine under the same `--instance` never takes this one's containers.
   */
  installationId(signal?: AbortSignal): Promise<string>;
  /** Quick round trip used for health reporting. Throws UnavailableError when down. */
  ping(signal?: AbortSignal): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}
