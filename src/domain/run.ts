/**
 * The Run record of DESIGN §3: one execution (or one skipped slot) of a scheduled bot.
 * Stored in the desired-state store (history, newest first) and as `runs/<botId>/<runId>.json`.
 */
export const RUN_TRIGGERS = ['cron', 'manual', 'catch-up'] as const;
export type RunTrigger = (typeof RUN_TRIGGERS)[number];

/** `running` while the container lives; every other status is final. */
export const RUN_STATUSES = ['running', 'succeeded', 'failed', 'timed-out', 'skipped', 'lost'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export interface Run {
  readonly runId: string;
  readonly botId: string;
  readonly trigger: RunTrigger;
  /** ISO instant of the cron slot; for manual runs the instant the run was asked for. */
  readonly scheduledFor: string;
  /** ISO instant the record was created; history is ordered by it (then runId). */
  readonly createdAt: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly exitCode?: number;
  readonly status: RunStatus;
  /** The last lines of the run's output (stdout+stderr), oldest first. */
  readonly outputTail?: readonly string[];
  /** Why the run was skipped, failed to start or was lost. */
  readonly reason?: string;
  /** Name of the run's container (ContainerRuntime.containerName: `berth-<botId>-<runId>` by default). */
  readonly containerName?: string;
}

export function isFinalRunStatus(status: RunStatus): boolean {
  return status !== 'running';
}

/** Upper bound of one history page (`listRuns`), whatever the caller asks for. */
export const MAX_RUN_PAGE = 500;
/** Default history page size. */
export const DEFAULT_RUN_PAGE = 50;

/** The page size every store's listRuns honours: whole, at least 1, at most MAX_RUN_PAGE. */
export function runPageSize(limit: number): number {
  if (!Number.isFinite(limit) || limit < 1) return 1;
  return Math.min(Math.floor(limit), MAX_RUN_PAGE);
}

/**
 * Where a scheduled bot stands: the next slot that is due and the schedule it was computed
 * from. Every scheduler process moves `nextRunAt` forward only with a conditional update
 * (ScheduleStore.advanceSchedule), which is what makes a slot fire exactly once.
 */
export interface ScheduleState {
  readonly botId: string;
  /** ISO instant of the next due slot. */
  readonly nextRunAt: string;
  /**
   * Identifies the schedule `nextRunAt` was computed from (cron, time zone, enabled): when
   * the bot's schedule changes, a scheduler sees a different basis and recomputes.
   */
  readonly basis: string;
}
