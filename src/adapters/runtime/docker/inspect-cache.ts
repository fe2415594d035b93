/**
 * What `list` cannot say: the Engine's container list has state and labels but no restart
 * count, start/finish times or exit code. Inspecting every container on every list would
 * make a reconcile pass over 100 bots 100 requests; instead each inspect result is kept
 * until the container's next lifecycle event (or a change of state seen in the list) and
 * the whole cache is trusted only while the event stream is connected.
 */
export interface InspectFacts {
  readonly restartCount: number;
  readonly exitCode: number | undefined;
  readonly createdAt: string | undefined;
  readonly startedAt: string | undefined;
  readonly finishedAt: string | undefined;
}

interface Entry {
  readonly facts: InspectFacts;
  /** The list state the facts were read with; another state means they are stale. */
  readonly state: string;
}

export class InspectCache {
  private readonly entries = new Map<string, Entry>();
  /** Bumped per container on each event, so an inspect that raced an event is not kept. */
  private readonly versions = new Map<string, number>();
  private epoch = 0;
  private trusted = false;

  /** Events flow: cached facts stay valid until an event says otherwise. */
  trust(): void {
    this.entries.clear();
    this.epoch++;
    this.trusted = true;
  }

  /** Events may be missed: nothing cached can be relied on. */
  distrust(): void {
    this.trusted = false;
    this.entries.clear();
    this.epoch++;
  }

  invalidate(containerId: string): void {
    this.entries.delete(containerId);
    this.versions.set(containerId, (this.versions.get(containerId) ?? 0) + 1);
  }

  get(containerId: string, state: string): InspectFacts | undefined {
    if (!this.trusted) return undefined;
    const entry = this.entries.get(containerId);
    return entry && entry.state === state ? entry.facts : undefined;
  }

  /** A token taken before inspecting; `put` ignores results older than an event since. */
  token(containerId: string): string {
    return `${this.epoch}:${this.versions.get(containerId) ?? 0}`;
  }

  put(containerId: string, state: string, facts: InspectFacts, token: string): void {
    if (!this.trusted || token !== this.token(containerId)) return;
    this.entries.set(containerId, { facts, state });
  }

  forget(containerId: string): void {
    this.entries.delete(containerId);
    this.versions.delete(containerId);
  }

  /** Drops containers that no longer exist. */
  retain(liveIds: ReadonlySet<string>): void {
    for (const id of this.entries.keys()) if (!liveIds.has(id)) this.entries.delete(id);
    for (const id of this.versions.keys()) if (!liveIds.has(id)) this.versions.delete(id);
  }

  get size(): number {
    return this.entries.size;
  }
}
