/**
 * The observed status of a live bot (DESIGN §3), derived from what one reconcile saw and
 * did. Pure, so the rules (phases, restart counts spanning Berth's own restarts, back-off
 * reset) are tested without a runtime.
 */
import type { Bot } from '../domain/bot.js';
import type { BotStatus, Phase } from '../domain/status.js';
import type { ActualContainer } from '../ports/runtime.js';
import { hasStayedUp, type CrashLoopPolicy } from './backoff.js';
import type { CrashLoopAction, WaitReason } from './planner.js';

/** What one reconcile of one bot ended with. */
export interface BotOutcome {
  /** The stored record; null when the bot does not exist (deleted or never known). */
  readonly bot: Bot | null;
  /** The container that runs the bot now, if any. */
  readonly container?: ActualContainer;
  /** The container was created by this reconcile. */
  readonly started?: boolean;
  /**
   * A container of the bot found exited (stopped or killed from outside: `docker kill`, an
   * engine restart) and removed by this reconcile, to be replaced: its exit is the bot's
   * last, and the new container is a restart.
   */
  readonly exited?: ActualContainer;
  readonly crashLoop?: CrashLoopAction;
  readonly wait?: WaitReason;
  /** Something Berth chose not to do now (e.g. the object store is down). */
  readonly deferred?: string;
  /** An action failed. */
  readonly error?: string;
}

/**
 * The new status: a BotStatus to write, `null` to delete the stored one, or `undefined`
 * when the status is not this service's to manage (scheduled bots).
 */
export function deriveStatus(
  botId: string,
  prev: BotStatus | undefined,
  outcome: BotOutcome,
  now: Date,
  policy: CrashLoopPolicy,
): BotStatus | null | undefined {
  const { bot } = outcome;
  if (!bot) return null;
  if (bot.kind !== 'live') return undefined;
  const at = now.toISOString();
  if (outcome.crashLoop) return crashLooping(botId, prev, outcome.crashLoop, at);
  if (outcome.container) return withContainer(botId, prev, outcome, outcome.container, now, policy);
  return withoutContainer(botId, prev, outcome, bot.enabled, at);
}

function crashLooping(botId: string, prev: BotStatus | undefined, action: CrashLoopAction, at: string): BotStatus {
  const c = action.container;
  const prior = priorFor(prev, c.specHash) + c.restartCount;
  return compact({
    botId,
    phase: 'crash-looping',
    restartCount: prior,
    priorRestarts: prior,
    lastExitCode: c.exitCode ?? prev?.lastExitCode,
    lastExitAt: c.finishedAt ?? at,
    lastError: action.reason,
    backoffUntil: action.backoffUntil.toISOString(),
    backoffCount: action.backoffCount,
    specHash: c.specHash,
    updatedAt: at,
  });
}

function withContainer(
  botId: string,
  prev: BotStatus | undefined,
  outcome: BotOutcome,
  c: ActualContainer,
  now: Date,
  policy: CrashLoopPolicy,
): BotStatus {
  const sameSpec = prev?.specHash === c.specHash;
  let prior = priorFor(prev, c.specHash);
  // Berth's own start after a crash-loop back-off is a restart too.
  if (outcome.started && sameSpec && prev?.phase === 'crash-looping') prior += 1;
  const gone = outcome.started && outcome.exited?.specHash === c.specHash ? outcome.exited : undefined;
  // So is its start in place of an exited container, which takes its runtime restarts along.
  if (gone) prior += gone.restartCount + 1;
  const reset = hasStayedUp(c, now, policy);
  const keepBackoff = sameSpec && !reset;
  const exited = c.restartCount > 0 || c.state === 'exited' || c.state === 'dead';
  return compact({
    botId,
    phase: outcome.started ? 'starting' : phaseOf(c),
    containerId: c.id,
    restartCount: prior + c.restartCount,
    priorRestarts: prior,
    lastExitCode: exited && c.exitCode !== undefined ? c.exitCode : (gone?.exitCode ?? prev?.lastExitCode),
    lastExitAt: exited && c.finishedAt ? c.finishedAt : (gone?.finishedAt ?? prev?.lastExitAt),
    lastError: outcome.error ?? outcome.deferred ?? (keepBackoff ? prev?.lastError : undefined),
    backoffCount: keepBackoff ? prev?.backoffCount : undefined,
    specHash: c.specHash,
    updatedAt: now.toISOString(),
  });
}

function withoutContainer(
  botId: string,
  prev: BotStatus | undefined,
  outcome: BotOutcome,
  enabled: boolean,
  at: string,
): BotStatus {
  if (!enabled) {
    return compact({ ...carried(prev), botId, phase: 'stopped', lastError: outcome.error ?? outcome.deferred, updatedAt: at });
  }
  if (outcome.wait === 'backoff' && prev) {
    return compact({ ...prev, lastError: outcome.error ?? prev.lastError, updatedAt: at });
  }
  const phase: Phase = outcome.error ? 'failed' : 'pending';
  return compact({
    ...carried(prev),
    botId,
    phase,
    lastError: outcome.error ?? outcome.deferred ?? prev?.lastError,
    backoffUntil: prev?.backoffUntil,
    backoffCount: prev?.backoffCount,
    specHash: prev?.specHash,
    updatedAt: at,
  });
}

/** Fields worth keeping when no container describes the bot. */
function carried(prev: BotStatus | undefined): Omit<BotStatus, 'botId' | 'phase' | 'updatedAt'> {
  return {
    restartCount: prev?.restartCount ?? 0,
    priorRestarts: prev?.priorRestarts,
    lastExitCode: prev?.lastExitCode,
    lastExitAt: prev?.lastExitAt,
  };
}

function priorFor(prev: BotStatus | undefined, specHash: string): number {
  return prev && prev.specHash === specHash ? (prev.priorRestarts ?? 0) : 0;
}

function phaseOf(c: ActualContainer): Phase {
  switch (c.state) {
    case 'running':
      return 'running';
    case 'restarting':
    case 'created':
      return 'starting';
    case 'paused':
      return 'stopped';
    case 'exited':
    case 'dead':
    case 'removing':
      return 'failed';
  }
}

/** Drops undefined fields so that equal statuses compare and store equally. */
function compact(status: { [K in keyof BotStatus]: BotStatus[K] | undefined }): BotStatus {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(status)) if (value !== undefined) out[key] = value;
  return out as unknown as BotStatus;
}

/** Equal apart from `updatedAt`: nothing worth writing. Flat fields; null and absent are alike. */
export function sameStatus(a: BotStatus | undefined, b: BotStatus | undefined): boolean {
  if (!a || !b) return a === b;
  const left = a as unknown as Record<string, unknown>;
  const right = b as unknown as Record<string, unknown>;
  for (const key of Object.keys(left)) if (key !== 'updatedAt' && (left[key] ?? null) !== (right[key] ?? null)) return false;
  for (const key of Object.keys(right)) if (key !== 'updatedAt' && !(key in left) && right[key] != null) return false;
  return true;
}
