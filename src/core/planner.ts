/**
 * The pure planner of live bots (DESIGN §7): desired state and actual containers in,
 * actions out. No I/O and no clock of its own, so every rule is a table test, and linear
 * in the number of bots and containers (one map per input) so a pass over 10,000 bots
 * stays cheap.
 */
import type { ActualContainer } from '../ports/runtime.js';
import type { BotStatus } from '../domain/status.js';
import { DEFAULT_INSTANCE, containerNameFor } from '../domain/container-name.js';
import {
  crashLoopReason,
  backoffDelayMs,
  inBackoff,
  nextBackoffCount,
  type CrashLoopPolicy,
  type RestartHistory,
} from './backoff.js';

/** An enabled live bot and the spec hash its container must carry. */
export interface DesiredLive {
  readonly botId: string;
  readonly specHash: string;
}

export type RemoveReason =
  | 'undesired'
  | 'duplicate'
  | 'stuck-created'
  | 'stuck-dead'
  /** Exited cleanly (0 or SIGTERM) and the runtime did not restart it: start afresh. */
  | 'exited'
  | 'spec-changed';

export type WaitReason =
  /** Crash-loop back-off: not started before `recheckAt`. */
  | 'backoff'
  /** The runtime is removing the bot's container; its name is not free yet. */
  | 'removing'
  /** Too young to judge (just created or just exited). */
  | 'grace';

export interface StartAction {
  readonly type: 'start';
  readonly botId: string;
  readonly specHash: string;
}

export interface ReplaceAction {
  readonly type: 'replace';
  readonly botId: string;
  readonly old: ActualContainer;
  readonly specHash: string;
  readonly reason: 'spec-changed';
}

export interface RemoveAction {
  readonly type: 'remove';
  readonly botId: string;
  readonly container: ActualContainer;
  readonly reason: RemoveReason;
}

export interface CrashLoopAction {
  readonly type: 'crash-loop';
  readonly botId: string;
  readonly container: ActualContainer;
  /** Short reason for people (status.lastError). */
  readonly reason: string;
  /** Consecutive crash loops of this spec, this one included. */
  readonly backoffCount: number;
  readonly backoffUntil: Date;
}

export interface NoAction {
  readonly type: 'none';
  readonly botId: string;
  /** The container that runs the bot, when there is one. */
  readonly container?: ActualContainer;
  readonly wait?: WaitReason;
  /** When the bot should be looked at again (without waiting for the next full pass). */
  readonly recheckAt?: Date;
}

export type Action = StartAction | ReplaceAction | RemoveAction | CrashLoopAction | NoAction;
export type ActionType = Action['type'];

export interface PlanInput {
  /** Enabled live bots; each id at most once. */
  readonly desired: readonly DesiredLive[];
  /** Managed containers of kind live, in every state. */
  readonly actual: readonly ActualContainer[];
  readonly statuses: ReadonlyMap<string, BotStatus>;
  readonly now: Date;
  readonly policy: CrashLoopPolicy;
  /** Restart observations by container id (see backoff.ts); absent means none yet. */
  readonly restarts?: ReadonlyMap<string, RestartHistory>;
  /** The runtime's name for a bot's container (ContainerRuntime.containerName); default `berth-<id>`. */
  readonly containerName?: (botId: string) => string;
}

/**
 * Actions grouped by bot, in execution order within each bot (removals before a start that
 * needs the name). Every desired bot and every bot with a container gets at least one
 * action; `none` says why nothing is done.
 */
export function planLiveBots(input: PlanInput): Action[] {
  const containersByBot = groupByBot(input.actual);
  const actions: Action[] = [];
  for (const desired of input.desired) {
    const entry = containersByBot.get(desired.botId);
    if (entry !== undefined) containersByBot.delete(desired.botId);
    planDesired(desired, entry, input, actions);
  }
  for (const [botId, entry] of containersByBot) {
    for (const container of asList(entry)) {
      if (container.state === 'removing') actions.push({ type: 'none', botId, container, wait: 'removing' });
      else actions.push({ type: 'remove', botId, container, reason: 'undesired' });
    }
  }
  return actions;
}

const NO_CONTAINERS: readonly ActualContainer[] = [];

/**
 * Groups containers by bot; scheduled runs are never the live planner's business. A bot's
 * single container is stored as it is (the common case), several as an array.
 */
function groupByBot(actual: readonly ActualContainer[]): Map<string, ActualContainer | ActualContainer[]> {
  const byBot = new Map<string, ActualContainer | ActualContainer[]>();
  for (const container of actual) {
    if (container.kind !== 'live') continue;
    const existing = byBot.get(container.botId);
    if (existing === undefined) byBot.set(container.botId, container);
    else if (Array.isArray(existing)) existing.push(container);
    else byBot.set(container.botId, [existing, container]);
  }
  return byBot;
}

function asList(entry: ActualContainer | ActualContainer[] | undefined): readonly ActualContainer[] {
  if (entry === undefined) return NO_CONTAINERS;
  return Array.isArray(entry) ? entry : [entry];
}

function planDesired(
  desired: DesiredLive,
  entry: ActualContainer | ActualContainer[] | undefined,
  input: PlanInput,
  out: Action[],
): void {
  const { botId, specHash } = desired;
  const containers = asList(entry);
  const live = withoutRemoving(containers);
  const removing = containers.length > live.length;
  const best = pickBest(live, desired, (input.containerName ?? defaultName)(botId));
  for (const container of live) {
    if (container !== best) out.push({ type: 'remove', botId, container, reason: 'duplicate' });
  }
  if (!best) {
    if (removing) out.push({ type: 'none', botId, wait: 'removing' });
    else out.push(startOrWait(desired, input));
    return;
  }
  if (best.specHash !== specHash) {
    out.push({ type: 'replace', botId, old: best, specHash, reason: 'spec-changed' });
    return;
  }
  planMatching(desired, best, input, out);
}

/** The container of a desired bot whose spec is current. */
function planMatching(desired: DesiredLive, container: ActualContainer, input: PlanInput, out: Action[]): void {
  const { botId } = desired;
  const { now, policy } = input;
  switch (container.state) {
    case 'created': {
      const recheckAt = afterGrace(container.createdAt, policy.createdGraceMs, now);
      if (recheckAt) {
        out.push({ type: 'none', botId, container, wait: 'grace', recheckAt });
        return;
      }
      out.push({ type: 'remove', botId, container, reason: 'stuck-created' });
      out.push(startOrWait(desired, input));
      return;
    }
    case 'dead':
      out.push({ type: 'remove', botId, container, reason: 'stuck-dead' });
      out.push(startOrWait(desired, input));
      return;
    case 'exited': {
      const recheckAt = afterGrace(container.finishedAt, policy.exitedGraceMs, now);
      if (recheckAt) {
        out.push({ type: 'none', botId, container, wait: 'grace', recheckAt });
        return;
      }
      // Under policy `always` the runtime leaves a container exited only when someone stopped
      // or killed it (`docker stop`, `docker kill`) or the engine went down: whatever the exit
      // code, the bot should run again now. Crashes show up as restarts, not as `exited`.
      out.push({ type: 'remove', botId, container, reason: 'exited' });
      out.push(startOrWait(desired, input));
      return;
    }
    default:
      break;
  }
  const reason = crashLoopReason(container, input.restarts?.get(container.id), now, policy);
  if (reason) {
    out.push(crashLoop(desired, container, reason, input));
    return;
  }
  out.push({ type: 'none', botId, container });
}

/** Containers being removed are gone as far as keeping goes; the common single healthy one is not copied. */
function withoutRemoving(containers: readonly ActualContainer[]): readonly ActualContainer[] {
  if (containers.length === 0) return containers;
  if (containers.length === 1 && containers[0]!.state !== 'removing') return containers;
  return containers.filter((c) => c.state !== 'removing');
}

function startOrWait(desired: DesiredLive, input: PlanInput): StartAction | NoAction {
  const status = input.statuses.get(desired.botId);
  if (inBackoff(status, desired.specHash, input.now)) {
    return { type: 'none', botId: desired.botId, wait: 'backoff', recheckAt: new Date(Date.parse(status!.backoffUntil!)) };
  }
  return { type: 'start', botId: desired.botId, specHash: desired.specHash };
}

function crashLoop(desired: DesiredLive, container: ActualContainer, reason: string, input: PlanInput): CrashLoopAction {
  const backoffCount = nextBackoffCount(input.statuses.get(desired.botId), desired.specHash);
  const backoffUntil = new Date(input.now.getTime() + backoffDelayMs(backoffCount, input.policy));
  return { type: 'crash-loop', botId: desired.botId, container, reason, backoffCount, backoffUntil };
}

/** The time the grace ends, when it has not ended yet; undefined when the time is unknown or past. */
function afterGrace(iso: string | undefined, graceMs: number, now: Date): Date | undefined {
  if (!iso) return undefined;
  const at = Date.parse(iso);
  if (Number.isNaN(at) || at + graceMs <= now.getTime()) return undefined;
  return new Date(at + graceMs);
}

const STATE_RANK: Readonly<Record<string, number>> = {
  running: 4,
  restarting: 3,
  paused: 2,
  created: 1,
  exited: 1,
  dead: 0,
  removing: 0,
};

/**
 * The container to keep among several of one bot: current spec first, then the healthiest
 * state, then the canonical name (the one the runtime gives it), then the most recently started; the id
 * breaks remaining ties so every pass picks the same one.
 */
function pickBest(containers: readonly ActualContainer[], desired: DesiredLive, canonicalName: string): ActualContainer | undefined {
  if (containers.length <= 1) return containers[0];
  let best: ActualContainer | undefined;
  for (const candidate of containers) {
    if (!best || compare(candidate, best, desired.specHash, canonicalName) < 0) best = candidate;
  }
  return best;
}

function defaultName(botId: string): string {
  return containerNameFor(DEFAULT_INSTANCE, botId);
}

/** Negative when `a` is the better container to keep. */
function compare(a: ActualContainer, b: ActualContainer, specHash: string, canonicalName: string): number {
  const spec = Number(b.specHash === specHash) - Number(a.specHash === specHash);
  if (spec) return spec;
  const state = (STATE_RANK[b.state] ?? 0) - (STATE_RANK[a.state] ?? 0);
  if (state) return state;
  const name = Number(isCanonical(b.name, canonicalName)) - Number(isCanonical(a.name, canonicalName));
  if (name) return name;
  const started = (b.startedAt ?? b.createdAt ?? '').localeCompare(a.startedAt ?? a.createdAt ?? '');
  if (started) return started;
  return a.id.localeCompare(b.id);
}

/** Docker reports names with a leading "/". */
function isCanonical(name: string, canonicalName: string): boolean {
  return name === canonicalName || name === `/${canonicalName}`;
}
