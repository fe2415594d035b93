/**
 * Desired-state store port (DESIGN §2, §3). Adapters: SQLite (embedded default),
 * MongoDB (production). Concurrency is optimistic via `generation`; no transactions,
 * change streams or unique secondary indexes are needed (STACK.md).
 */
import type { Bot, BotKind } from '../domain/bot.js';
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

  /** Quick round trip used for health reporting. Throws UnavailableError when down. */
  ping(signal?: AbortSignal): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}
