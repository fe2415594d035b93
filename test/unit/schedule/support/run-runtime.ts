/**
 * An in-memory ContainerRuntime for unit tests of the ScheduleService's scheduling logic:
 * a run container "runs" until the test ends it (or its `autoExit` fires on the injected
 * clock), `wait()` resolves when it exits, `stop()` ends it with 143. Docker itself is
 * covered by the e2e tests (test/e2e/scheduled-bots.test.ts).
 */
import type { Clock } from '../../../../src/core/clock.js';
import type { BotKind } from '../../../../src/domain/bot.js';
import { DEFAULT_INSTANCE, containerNameFor } from '../../../../src/domain/container-name.js';
import { DAEMON_ENV } from '../../../../src/domain/daemon-contract.js';
import { ConflictError, NotFoundError, UnavailableError } from '../../../../src/domain/errors.js';
import type {
  ActualContainer,
  ContainerRuntime,
  ContainerSpec,
  ContainerState,
  RuntimeEvent,
  RuntimeEventStream,
  StopOptions,
} from '../../../../src/ports/runtime.js';

export interface MemContainer {
  id: string;
  name: string;
  botId: string;
  kind: BotKind;
  runId?: string;
  specHash: string;
  state: ContainerState;
  exitCode?: number;
  output: string[];
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  spec?: ContainerSpec;
}

export interface StartRecord {
  readonly name: string;
  readonly botId: string;
  readonly runId?: string;
  readonly at: number;
  /** A warm start: when the daemon starts the bot (BERTH_DAEMON_START_AT). */
  readonly botAt?: number;
}

/** How a started run behaves: exit after `afterMs` of clock time with `code` and `output`; never when undefined. */
export interface Behaviour {
  readonly afterMs?: number;
  readonly code?: number;
  readonly output?: string[];
}

export class RunRuntime implements ContainerRuntime {
  readonly name = 'memory';
  readonly objectAccess = 'host' as const;

  containerName(botId: string, runId?: string): string {
    return containerNameFor(DEFAULT_INSTANCE, botId, runId);
  }
  readonly containers = new Map<string, MemContainer>();
  readonly starts: StartRecord[] = [];
  readonly stops: string[] = [];
  readonly removes: string[] = [];
  /** Most run containers of one bot active at once. */
  readonly maxActive = new Map<string, number>();
  behaviour: (spec: ContainerSpec) => Behaviour = () => ({ afterMs: 0, code: 0 });
  /** Makes list() fail (the engine unreachable). */
  down = false;
  private readonly waiters = new Map<string, ((code: number) => void)[]>();
  private nextId = 1;

  constructor(private readonly clock: Clock) {}

  async ping(): Promise<void> {}

  async list(filter: { kind?: BotKind; botId?: string }): Promise<ActualContainer[]> {
    if (this.down) throw new UnavailableError('runtime', 'the test engine is down');
    return [...this.containers.values()]
      .filter((c) => (filter.kind === undefined || c.kind === filter.kind) && (filter.botId === undefined || c.botId === filter.botId))
      .map(snapshot);
  }

  async start(spec: ContainerSpec): Promise<ActualContainer> {
    if ([...this.containers.values()].some((c) => c.name === spec.name)) throw new ConflictError(`name ${spec.name} in use`);
    const now = this.clock.now();
    const c: MemContainer = {
      id: `m${this.nextId++}`,
      name: spec.name,
      botId: spec.botId,
      kind: spec.kind,
      ...(spec.runId !== undefined ? { runId: spec.runId } : {}),
      specHash: spec.specHash,
      state: 'running',
      output: [],
      createdAt: now.toISOString(),
      startedAt: now.toISOString(),
      spec,
    };
    this.add(c);
    const startAt = spec.env[DAEMON_ENV.startAt] === undefined ? undefined : Number(spec.env[DAEMON_ENV.startAt]);
    this.starts.push({
      name: spec.name,
      botId: spec.botId,
      ...(spec.runId !== undefined ? { runId: spec.runId } : {}),
      at: now.getTime(),
      ...(startAt !== undefined ? { botAt: startAt } : {}),
    });
    const b = this.behaviour(spec);
    // As the daemon does, the bot itself starts only at its start time.
    const waitMs = Math.max(0, (startAt ?? 0) - now.getTime());
    // 0: the bot exits at once (on the next turn of the event loop, not on the clock).
    if (b.afterMs === 0 && waitMs === 0) setImmediate(() => this.exit(c.id, b.code ?? 0, b.output ?? []));
    else if (b.afterMs !== undefined) this.clock.setTimeout(() => this.exit(c.id, b.code ?? 0, b.output ?? []), waitMs + b.afterMs);
    return snapshot(c);
  }

  /** Puts a container in place (an earlier process's run, a live bot). */
  add(c: MemContainer): MemContainer {
    this.containers.set(c.id, c);
    const active = [...this.containers.values()].filter((x) => x.botId === c.botId && x.kind === 'scheduled' && x.state === 'running').length;
    this.maxActive.set(c.botId, Math.max(this.maxActive.get(c.botId) ?? 0, active));
    return c;
  }

  /** The bot process exits (its daemon's final sync included). */
  exit(id: string, code: number, output: string[] = []): void {
    const c = this.containers.get(id);
    if (!c || c.state !== 'running') return;
    c.state = 'exited';
    c.exitCode = code;
    c.output.push(...output);
    c.finishedAt = this.clock.now().toISOString();
    for (const resolve of this.waiters.get(id) ?? []) resolve(code);
    this.waiters.delete(id);
  }

  async stop(id: string, _options: StopOptions): Promise<void> {
    this.stops.push(id);
    this.exit(id, 143, ['[berth] SIGTERM received']);
  }

  async remove(id: string): Promise<void> {
    this.removes.push(id);
    this.exit(id, 137);
    this.containers.delete(id);
  }

  async tail(id: string, lines: number): Promise<string[]> {
    const c = this.containers.get(id);
    if (!c) throw new NotFoundError(`no container ${id}`);
    return c.output.slice(-lines);
  }

  wait(id: string, signal?: AbortSignal): Promise<number> {
    const c = this.containers.get(id);
    if (!c) return Promise.reject(new NotFoundError(`no container ${id}`));
    if (c.state !== 'running') return Promise.resolve(c.exitCode ?? 0);
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal?.reason);
      const list = this.waiters.get(id) ?? [];
      list.push((code) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(code);
      });
      this.waiters.set(id, list);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  watch(_handler: (event: RuntimeEvent) => void): RuntimeEventStream {
    return { stop: () => undefined };
  }

  async close(): Promise<void> {}

  running(botId?: string): MemContainer[] {
    return [...this.containers.values()].filter((c) => c.state === 'running' && (botId === undefined || c.botId === botId));
  }
}

function snapshot(c: MemContainer): ActualContainer {
  return {
    id: c.id,
    name: c.name,
    botId: c.botId,
    kind: c.kind,
    specHash: c.specHash,
    ...(c.runId !== undefined ? { runId: c.runId } : {}),
    state: c.state,
    restartCount: 0,
    ...(c.exitCode !== undefined ? { exitCode: c.exitCode } : {}),
    createdAt: c.createdAt,
    ...(c.startedAt ? { startedAt: c.startedAt } : {}),
    ...(c.finishedAt ? { finishedAt: c.finishedAt } : {}),
  };
}
