/**
 * Observed status of a bot (DESIGN §3): what `berth ls` and the API show next to the
 * desired state. Written by the services, never by the API.
 */
export const PHASES = ['pending', 'starting', 'running', 'crash-looping', 'stopped', 'failed'] as const;
export type Phase = (typeof PHASES)[number];

export interface BotStatus {
  readonly botId: string;
  readonly phase: Phase;
  readonly containerId?: string;
  /** Restarts of the current container plus the ones Berth itself did after crash-loop back-off. */
  readonly restartCount: number;
  readonly lastExitCode?: number;
  /** ISO time of the last exit. */
  readonly lastExitAt?: string;
  readonly lastError?: string;
  /** ISO time before which Berth will not start the bot again (crash-loop back-off). */
  readonly backoffUntil?: string;
  /** Consecutive crash-loop back-offs; resets once the bot stays up. */
  readonly backoffCount?: number;
  /**
   * Restarts before the current container: those of containers Berth removed in a crash
   * loop plus Berth's own starts after back-off. `restartCount` = this + the current
   * container's own restarts. Resets when the spec changes.
   */
  readonly priorRestarts?: number;
  /** The spec hash of the container the status describes. */
  readonly specHash?: string;
  readonly updatedAt: string;
}

/** A dependency's health as a service reports it (e.g. object store down). */
export interface DependencyHealth {
  readonly name: 'store' | 'objects' | 'events' | 'runtime';
  readonly ok: boolean;
  readonly detail?: string;
  readonly since: string;
}
