/**
 * Reading the process runtime's containers back from disk: the only source of truth, so a
 * restarted `berth serve` (a new ProcessRuntime) adopts whatever its predecessor started.
 */
import { readdir } from 'node:fs/promises';
import { STATES_WITH_EXIT_CODE, type ActualContainer, type ContainerSpec, type ContainerState } from '../../../ports/runtime.js';
import { CONTAINER_NAME_PATTERN, containerPaths, readJson, type ContainerPaths, type ShimStatus } from './layout.js';
import { isSameProcessAlive } from './proc.js';

/** spec.json: the spec as given, plus what the runtime assigned. */
export interface StoredSpec {
  readonly id: string;
  readonly instance: string;
  readonly spec: ContainerSpec;
}

export interface ObservedContainer {
  readonly paths: ContainerPaths;
  readonly stored: StoredSpec;
  readonly status: ShimStatus;
  readonly shimAlive: boolean;
  readonly state: ContainerState;
}

/** Exit code reported for a container whose shim vanished without recording one (Docker uses 255 too). */
export const LOST_EXIT_CODE = 255;

export function observe(paths: ContainerPaths): ObservedContainer | undefined {
  let stored: StoredSpec | undefined;
  let status: ShimStatus | undefined;
  try {
    stored = readJson<StoredSpec>(paths.spec);
    status = readJson<ShimStatus>(paths.status);
  } catch {
    // Half-written by a runtime that was killed while creating it; start() never leaves that.
    return undefined;
  }
  if (stored === undefined) return undefined;
  status ??= { id: stored.id, state: 'created', restartCount: 0, createdAt: new Date(0).toISOString() };
  const shimAlive = isSameProcessAlive(status.shimPid, status.shimIdentity);
  return { paths, stored, status, shimAlive, state: stateOf(status, shimAlive) };
}

function stateOf(status: ShimStatus, shimAlive: boolean): ContainerState {
  switch (status.state) {
    case 'exited':
      return 'exited';
    case 'created':
      // A shim that died before starting anything (or none was ever spawned).
      return status.shimPid === undefined || shimAlive ? 'created' : 'dead';
    default:
      // The machine rebooted or someone killed the shim: nobody supervises it any more.
      return shimAlive ? status.state : 'dead';
  }
}

export async function containerNames(instanceDir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(instanceDir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return entries
    .filter((e) => e.isDirectory() && CONTAINER_NAME_PATTERN.test(e.name))
    .map((e) => e.name)
    .sort();
}

export async function observeAll(instanceDir: string): Promise<ObservedContainer[]> {
  const observed: ObservedContainer[] = [];
  for (const name of await containerNames(instanceDir)) {
    const container = observe(containerPaths(instanceDir, name));
    if (container !== undefined) observed.push(container);
  }
  return observed;
}

export function toActual(container: ObservedContainer): ActualContainer {
  const { spec, id } = container.stored;
  const { status } = container;
  const exitCode = !STATES_WITH_EXIT_CODE.has(container.state)
    ? undefined
    : (status.exitCode ?? (container.state === 'dead' ? LOST_EXIT_CODE : undefined));
  return {
    id,
    name: spec.name,
    botId: spec.botId,
    kind: spec.kind,
    specHash: spec.specHash,
    ...(spec.runId !== undefined ? { runId: spec.runId } : {}),
    state: container.state,
    restartCount: status.restartCount,
    ...(exitCode !== undefined ? { exitCode } : {}),
    createdAt: status.createdAt,
    ...(status.startedAt !== undefined ? { startedAt: status.startedAt } : {}),
    ...(status.finishedAt !== undefined ? { finishedAt: status.finishedAt } : {}),
  };
}
