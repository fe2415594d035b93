/**
 * Container runtime port (DESIGN §2, §5). Adapters: Docker (dockerode), local processes
 * (development fallback), Kubernetes (later). Actual state is always read back from the
 * runtime through labels, never kept only in memory.
 */
import type { BotKind } from '../domain/bot.js';

export const LABELS = {
  managed: 'berth.managed',
  bot: 'berth.bot',
  kind: 'berth.kind',
  spec: 'berth.spec',
  run: 'berth.run',
  /** Separates Berth installations (and test runs) that share one engine; default `default`. */
  instance: 'berth.instance',
  /**
   * The desired-state store's installation id (DesiredStateStore.installationId): two
   * installations started under the same instance still never take each other's containers.
   */
  installation: 'berth.installation',
} as const;

export type ContainerState = 'created' | 'running' | 'restarting' | 'paused' | 'exited' | 'dead' | 'removing';

/**
 * The states in which `ActualContainer.exitCode` is reported: a container that runs again
 * after a restart has no exit code yet (Docker resets it), so a stale one never shows.
 */
export const STATES_WITH_EXIT_CODE: ReadonlySet<ContainerState> = new Set(['exited', 'dead', 'restarting', 'removing']);

/** A managed container as the runtime reports it. */
export interface ActualContainer {
  readonly id: string;
  readonly name: string;
  readonly botId: string;
  readonly kind: BotKind;
  readonly specHash: string;
  readonly runId?: string;
  readonly state: ContainerState;
  /** Restarts done by the runtime's restart policy since the container was created. */
  readonly restartCount: number;
  readonly exitCode?: number;
  /** ISO times; absent when unknown. */
  readonly createdAt?: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
}

export interface Mount {
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

/** Everything needed to create one bot container. Built by src/core/container-spec.ts. */
export interface ContainerSpec {
  /** ContainerRuntime.containerName of the bot (and run). */
  readonly name: string;
  readonly botId: string;
  readonly kind: BotKind;
  readonly specHash: string;
  readonly runId?: string;
  readonly image: string;
  /** The container's environment: the daemon's settings (BERTH_DAEMON_*) and the bot's own. */
  readonly env: Readonly<Record<string, string>>;
  readonly restartPolicy: 'always' | 'no';
  readonly memoryMb: number;
  readonly cpus: number;
  readonly pids: number;
  /** Seconds between SIGTERM and SIGKILL on stop. */
  readonly stopGraceSeconds: number;
  readonly networkMode: string;
  /** Bind mounts: in embedded mode, only this bot's object-store prefixes. */
  readonly mounts: readonly Mount[];
  /**
   * Replaces the image's command (normally bootstrap.sh). Only for conformance tests and
   * the benchmark's bare run; bots always run through bootstrap.sh.
   */
  readonly command?: readonly string[];
}

export interface StopOptions {
  /** Seconds between SIGTERM and SIGKILL. */
  readonly graceSeconds: number;
}

export type RuntimeEventType = 'start' | 'die' | 'destroy' | 'restart' | 'oom' | 'stop';

export interface RuntimeEvent {
  readonly type: RuntimeEventType;
  readonly containerId: string;
  readonly botId: string;
  readonly kind: BotKind;
  readonly runId?: string;
  readonly exitCode?: number;
  readonly at: string;
}

export interface RuntimeEventStream {
  /** Idempotent. */
  stop(): void;
}

/**
 * Adapters are constructed with an `instance` name; they label what they create with it and
 * list only what carries it, so two installations (or parallel test files) on one engine
 * never see each other's containers.
 */
export interface ContainerRuntime {
  /** `docker`, `process` or `kubernetes`: shown to users at start-up. */
  readonly name: string;
  /**
   * Where the daemon runs relative to the object store: `container` (own filesystem,
   * reaches a filesystem store through bind mounts) or `host` (a local process).
   * Passed to ObjectStore.daemonAccess.
   */
  readonly objectAccess: 'container' | 'host';
  /**
   * The name this runtime gives a bot's container (with `runId`, a scheduled run's):
   * unique per instance, so the runtime's name uniqueness refuses a second start of the
   * same bot or slot within an installation and never across installations.
   */
  containerName(botId: string, runId?: string): string;
  /** Throws UnavailableError when the runtime cannot be reached. */
  ping(signal?: AbortSignal): Promise<void>;
  /** Every managed container in every state, optionally narrowed to one kind or bot. */
  list(filter: { kind?: BotKind; botId?: string }, signal?: AbortSignal): Promise<ActualContainer[]>;
  /** Creates and starts. Throws ConflictError if a container with that name exists. */
  start(spec: ContainerSpec, signal?: AbortSignal): Promise<ActualContainer>;
  /** SIGTERM, grace period, SIGKILL. Idempotent: a stopped or missing container is fine. */
  stop(containerId: string, options: StopOptions, signal?: AbortSignal): Promise<void>;
  /** Removes (killing if needed). Idempotent: a missing container is fine. */
  remove(containerId: string, signal?: AbortSignal): Promise<void>;
  /** Last lines of the container's own output (stdout+stderr), oldest first. */
  tail(containerId: string, lines: number, signal?: AbortSignal): Promise<string[]>;
  /**
   * Resolves with the exit code once the container has exited (immediately if it already
   * has). Used for scheduled runs.
   */
  wait(containerId: string, signal?: AbortSignal): Promise<number>;
  /** Streams lifecycle events of managed containers; reconnects by itself. */
  watch(handler: (event: RuntimeEvent) => void): RuntimeEventStream;
  /** Idempotent. Never stops containers. */
  close(): Promise<void>;
}
