/**
 * An in-memory ContainerRuntime for unit tests of the core: containers are records, the
 * test plays Docker (crashes, restarts, external removals) through the control methods.
 * Docker itself is exercised by the adapter's conformance and e2e tests.
 */
import { DEFAULT_INSTANCE, containerNameFor } from '../../../../src/domain/container-name.js';
import { ConflictError, UnavailableError } from '../../../../src/domain/errors.js';
import type {
  ActualContainer,
  ContainerRuntime,
  ContainerSpec,
  ContainerState,
  RuntimeEvent,
  RuntimeEventStream,
  StopOptions,
} from '../../../../src/ports/runtime.js';
import type { BotKind } from '../../../../src/domain/bot.js';
import type { Clock } from '../../../../src/core/clock.js';

export interface FakeContainer {
  id: string;
  name: string;
  botId: string;
  kind: BotKind;
  specHash: string;
  state: ContainerState;
  restartCount: number;
  exitCode?: number;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  spec?: ContainerSpec;
}

export type RuntimeCall =
  | { op: 'list'; filter: { kind?: BotKind; botId?: string } }
  | { op: 'start'; name: string; botId: string; specHash: string }
  | { op: 'stop'; id: string; graceSeconds: number }
  | { op: 'remove'; id: string };

export class FakeRuntime implements ContainerRuntime {
  readonly name = 'fake';
  readonly objectAccess = 'container' as const;

  containerName(botId: string, runId?: string): string {
    return containerNameFor(DEFAULT_INSTANCE, botId, runId);
  }
  readonly containers = new Map<string, FakeContainer>();
  readonly calls: RuntimeCall[] = [];
  /** Most containers that ever existed at once for one bot. */
  readonly maxPerBot = new Map<string, number>();
  private readonly handlers = new Set<(event: RuntimeEvent) => void>();
  private nextId = 1;
  private startsInFlight = 0;
  maxConcurrentStarts = 0;
  /** Makes start() of these bots fail. */
  readonly failStartFor = new Set<string>();
  down = false;
  /** When set, list() waits for it (holds a pass in flight). */
  listGate: Promise<void> | undefined;
  /** When set, start() waits for it (holds a start in flight). */
  startGate: Promise<void> | undefined;

  constructor(private readonly clock: Clock) {}

  async ping(): Promise<void> {
    if (this.down) throw new UnavailableError('runtime', 'fake runtime is down');
  }

  /** State changes the next list() call does not show yet, applied right after it. */
  private readonly listLags: (() => void)[] = [];

  async list(filter: { kind?: BotKind; botId?: string }): Promise<ActualContainer[]> {
    this.calls.push({ op: 'list', filter: { ...filter } });
    await this.listGate;
    await this.ping();
    const listed = [...this.containers.values()]
      .filter((c) => (filter.kind === undefined || c.kind === filter.kind) && (filter.botId === undefined || c.botId === filter.botId))
      .map(snapshot);
    // The Engine's list catches up with an exit only after the `die` event (see killWithEarlyDie).
    for (const apply of this.listLags.splice(0)) apply();
    return listed;
  }

  async start(spec: ContainerSpec): Promise<ActualContainer> {
    this.calls.push({ op: 'start', name: spec.name, botId: spec.botId, specHash: spec.specHash });
    this.startsInFlight++;
    this.maxConcurrentStarts = Math.max(this.maxConcurrentStarts, this.startsInFlight);
    try {
      await this.startGate;
      await this.ping();
      if (this.failStartFor.has(spec.botId)) throw new Error(`image has no entrypoint for ${spec.botId}`);
      if ([...this.containers.values()].some((c) => c.name === spec.name)) {
        throw new ConflictError(`container name ${spec.name} is already in use`);
      }
      const now = this.clock.now().toISOString();
      const container: FakeContainer = {
        id: `c${this.nextId++}`,
        name: spec.name,
        botId: spec.botId,
        kind: spec.kind,
        specHash: spec.specHash,
        state: 'running',
        restartCount: 0,
        createdAt: now,
        startedAt: now,
        spec,
      };
      this.add(container);
      this.emit('start', container);
      return snapshot(container);
    } finally {
      this.startsInFlight--;
    }
  }

  async stop(containerId: string, options: StopOptions): Promise<void> {
    this.calls.push({ op: 'stop', id: containerId, graceSeconds: options.graceSeconds });
    const c = this.containers.get(containerId);
    if (!c || c.state === 'exited' || c.state === 'created' || c.state === 'dead') return;
    c.state = 'exited';
    c.exitCode = 143;
    c.finishedAt = this.clock.now().toISOString();
    this.emit('die', c);
  }

  async remove(containerId: string): Promise<void> {
    this.calls.push({ op: 'remove', id: containerId });
    const c = this.containers.get(containerId);
    if (!c) return;
    this.containers.delete(containerId);
    this.emit('destroy', c);
  }

  async tail(): Promise<string[]> {
    return [];
  }

  async wait(containerId: string): Promise<number> {
    return this.containers.get(containerId)?.exitCode ?? 0;
  }

  watch(handler: (event: RuntimeEvent) => void): RuntimeEventStream {
    this.handlers.add(handler);
    return { stop: () => void this.handlers.delete(handler) };
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }

  // ---- the test plays Docker ----------------------------------------------------------

  /** Puts a container in place as if someone (an earlier service run, a human) created it. */
  add(container: FakeContainer): FakeContainer {
    this.containers.set(container.id, container);
    const count = [...this.containers.values()].filter((c) => c.botId === container.botId).length;
    this.maxPerBot.set(container.botId, Math.max(this.maxPerBot.get(container.botId) ?? 0, count));
    return container;
  }

  newId(): string {
    return `c${this.nextId++}`;
  }

  /** The bot process exits with `exitCode` and Docker's restart policy brings it back. */
  crashAndRestart(containerId: string, exitCode: number): void {
    const c = this.mustGet(containerId);
    const now = this.clock.now().toISOString();
    c.exitCode = exitCode;
    c.finishedAt = now;
    c.restartCount++;
    c.startedAt = now;
    c.state = 'running';
    this.emit('die', c);
  }

  /**
   * `docker kill` as the Engine reports it: `die` comes while the container list still says
   * `running`; the list says `exited` only afterwards. Docker does not restart a killed container.
   */
  killWithEarlyDie(containerId: string, exitCode: number): void {
    const c = this.mustGet(containerId);
    const finishedAt = this.clock.now().toISOString();
    this.listLags.push(() => {
      c.state = 'exited';
      c.exitCode = exitCode;
      c.finishedAt = finishedAt;
    });
    this.emit('die', { ...c, exitCode });
  }

  /** Someone ran `docker rm -f`. */
  removeExternally(containerId: string): void {
    const c = this.mustGet(containerId);
    this.containers.delete(containerId);
    this.emit('die', c);
    this.emit('destroy', c);
  }

  byBot(botId: string): FakeContainer[] {
    return [...this.containers.values()].filter((c) => c.botId === botId);
  }

  starts(botId?: string): Extract<RuntimeCall, { op: 'start' }>[] {
    return this.calls.filter((c): c is Extract<RuntimeCall, { op: 'start' }> => c.op === 'start' && (botId === undefined || c.botId === botId));
  }

  fullLists(): number {
    return this.calls.filter((c) => c.op === 'list' && c.filter.botId === undefined).length;
  }

  private mustGet(id: string): FakeContainer {
    const c = this.containers.get(id);
    if (!c) throw new Error(`no container ${id}`);
    return c;
  }

  private emit(type: RuntimeEvent['type'], c: FakeContainer): void {
    const event: RuntimeEvent = {
      type,
      containerId: c.id,
      botId: c.botId,
      kind: c.kind,
      ...(c.exitCode !== undefined && type === 'die' ? { exitCode: c.exitCode } : {}),
      at: this.clock.now().toISOString(),
    };
    for (const handler of [...this.handlers]) queueMicrotask(() => handler(event));
  }
}

function snapshot(c: FakeContainer): ActualContainer {
  const { spec: _spec, ...rest } = c;
  return { ...rest };
}

/** A promise the test opens by hand. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}
