/** Keeps the health of each dependency a service relies on, with the time it last changed. */
import type { DependencyHealth } from '../domain/status.js';

type Name = DependencyHealth['name'];

export class HealthBoard {
  private readonly entries = new Map<Name, DependencyHealth>();

  constructor(private readonly now: () => Date) {}

  /** Records an observation; `since` moves only when `ok` flips. */
  report(name: Name, ok: boolean, detail?: string): void {
    const previous = this.entries.get(name);
    const since = previous && previous.ok === ok ? previous.since : this.now().toISOString();
    this.entries.set(name, { name, ok, since, ...(detail !== undefined ? { detail } : {}) });
  }

  get(name: Name): DependencyHealth | undefined {
    return this.entries.get(name);
  }

  list(): DependencyHealth[] {
    return [...this.entries.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
}
