/** Engine records → ActualContainer / RuntimeEvent, read only from labels and state. */
import type Dockerode from 'dockerode';
import { BOT_KINDS, type BotKind } from '../../../domain/bot.js';
import {
  LABELS,
  STATES_WITH_EXIT_CODE,
  type ActualContainer,
  type ContainerState,
  type RuntimeEvent,
  type RuntimeEventType,
} from '../../../ports/runtime.js';
import type { EngineEvent } from './events.js';
import type { InspectFacts } from './inspect-cache.js';

const STATES: readonly ContainerState[] = ['created', 'running', 'restarting', 'paused', 'exited', 'dead', 'removing'];
export const EVENT_TYPES: readonly RuntimeEventType[] = ['start', 'die', 'destroy', 'restart', 'oom', 'stop'];

export function toState(value: string | undefined): ContainerState {
  const state = (value ?? '').toLowerCase() as ContainerState;
  return STATES.includes(state) ? state : 'dead';
}

function toKind(value: string | undefined): BotKind | undefined {
  return (BOT_KINDS as readonly string[]).includes(value ?? '') ? (value as BotKind) : undefined;
}

/** The Engine's zero time means "never". */
export function engineTime(value: string | undefined): string | undefined {
  if (!value || value.startsWith('0001-01-01')) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

export function factsFromInspect(info: Dockerode.ContainerInspectInfo): InspectFacts {
  const state = info.State;
  const finishedAt = engineTime(state?.FinishedAt);
  return {
    restartCount: info.RestartCount ?? 0,
    // ExitCode is 0 before the first exit; it only means something once the container has finished.
    exitCode: finishedAt !== undefined && typeof state?.ExitCode === 'number' ? state.ExitCode : undefined,
    createdAt: engineTime(info.Created),
    startedAt: engineTime(state?.StartedAt),
    finishedAt,
  };
}

export interface ListedContainer {
  readonly id: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly state: ContainerState;
  readonly createdAt: string | undefined;
}

export function fromListEntry(info: Dockerode.ContainerInfo): ListedContainer {
  return {
    id: info.Id,
    name: (info.Names?.[0] ?? '').replace(/^\//, ''),
    labels: info.Labels ?? {},
    state: toState(info.State),
    createdAt: typeof info.Created === 'number' ? new Date(info.Created * 1000).toISOString() : undefined,
  };
}

/**
 * States in which the Engine's exit code is the last exit's. A running container reports
 * 0 even after it crashed and was restarted, which would hide a crash loop's exit code.
 */
/** Undefined for a container whose labels are not Berth's (a hand-made lookalike). */
export function toActual(listed: ListedContainer, facts: InspectFacts): ActualContainer | undefined {
  const botId = listed.labels[LABELS.bot];
  const kind = toKind(listed.labels[LABELS.kind]);
  const specHash = listed.labels[LABELS.spec];
  if (!botId || !kind || specHash === undefined) return undefined;
  const runId = listed.labels[LABELS.run];
  return {
    id: listed.id,
    name: listed.name,
    botId,
    kind,
    specHash,
    ...(runId ? { runId } : {}),
    state: listed.state,
    restartCount: facts.restartCount,
    ...(facts.exitCode !== undefined && STATES_WITH_EXIT_CODE.has(listed.state) ? { exitCode: facts.exitCode } : {}),
    ...((facts.createdAt ?? listed.createdAt) ? { createdAt: facts.createdAt ?? listed.createdAt } : {}),
    ...(facts.startedAt ? { startedAt: facts.startedAt } : {}),
    ...(facts.finishedAt ? { finishedAt: facts.finishedAt } : {}),
  };
}

export function fromInspect(info: Dockerode.ContainerInspectInfo): ActualContainer | undefined {
  const listed: ListedContainer = {
    id: info.Id,
    name: (info.Name ?? '').replace(/^\//, ''),
    labels: info.Config?.Labels ?? {},
    state: toState(info.State?.Status),
    createdAt: engineTime(info.Created),
  };
  return toActual(listed, factsFromInspect(info));
}

export function toRuntimeEvent(event: EngineEvent): RuntimeEvent | undefined {
  const type = EVENT_TYPES.find((t) => t === event.Action);
  const attributes = event.Actor?.Attributes ?? {};
  const botId = attributes[LABELS.bot];
  const kind = toKind(attributes[LABELS.kind]);
  const containerId = event.Actor?.ID ?? event.id;
  if (!type || !botId || !kind || !containerId) return undefined;
  const runId = attributes[LABELS.run];
  const exitCode = attributes.exitCode !== undefined ? Number(attributes.exitCode) : undefined;
  const ms = event.timeNano !== undefined ? Math.floor(event.timeNano / 1e6) : (event.time ?? Date.now() / 1000) * 1000;
  return {
    type,
    containerId,
    botId,
    kind,
    ...(runId ? { runId } : {}),
    ...(type === 'die' && exitCode !== undefined && Number.isFinite(exitCode) ? { exitCode } : {}),
    at: new Date(ms).toISOString(),
  };
}
