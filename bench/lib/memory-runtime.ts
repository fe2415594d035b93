/**
 * A runtime double for benchmarks that measure everything but the container engine: it
 * keeps "containers" as records, starts them at once and lists them without I/O, so a
 * reconcile pass over it costs what the store, the object-store ping and the planner cost.
 * Its name says so in every row that uses it.
 */
import type { BotKind } from '../../src/domain/bot.js';
import { DEFAULT_INSTANCE, containerNameFor } from '../../src/domain/container-name.js';
import type { ActualContainer, ContainerRuntime, ContainerSpec, RuntimeEventStream } from '../../src/ports/runtime.js';

export class MemoryRuntime implements ContainerRuntime {
  readonly name = 'memory (benchmark double)';
  readonly objectAccess = 'host' as const;

  containerName(botId: string, runId?: string): string {
    return containerNameFor(DEFAULT_INSTANCE, botId, runId);
  }
  private readonly containers = new Map<string, ActualContainer>();
  private nextId = 1;

  get size(): number {
    return this.containers.size;
  }

  async ping(): Promise<void> {}

  async list(filter: { kind?: BotKind; botId?: string }): Promise<ActualContainer[]> {
    return [...this.containers.values()].filter(
      (c) => (filter.kind === undefined || c.kind === filter.kind) && (filter.botId === undefined || c.botId === filter.botId),
    );
  }

  async start(spec: ContainerSpec): Promise<ActualContainer> {
    const now = new Date().toISOString();
    const container: ActualContainer = {
      id: `m${this.nextId++}`,
      name: spec.name,
      botId: spec.botId,
      kind: spec.kind,
      specHash: spec.specHash,
      state: 'running',
      restartCount: 0,
      createdAt: now,
      startedAt: now,
      ...(spec.runId ? { runId: spec.runId } : {}),
    };
    this.containers.set(container.id, container);
    return container;
  }

  async stop(containerId: string): Promise<void> {
    const c = this.containers.get(containerId);
    if (c) this.containers.set(containerId, { ...c, state: 'exited', exitCode: 143 });
  }

  async remove(containerId: string): Promise<void> {
    this.containers.delete(containerId);
  }

  async tail(): Promise<string[]> {
    return [];
  }

  async wait(): Promise<number> {
    return 0;
  }

  watch(): RuntimeEventStream {
    return { stop: () => undefined };
  }

  async close(): Promise<void> {}
}
