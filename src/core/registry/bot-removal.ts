/**
 * `rm` of one bot id: the record first, then its objects once its container is gone, so
 * the container's final sync cannot write state or logs back after them.
 *
 * An id without a record can still have objects: packages uploaded for a deploy that was
 * refused, or data an earlier `rm --keep-data` kept. Those are removed the same way; only
 * an id with nothing under it is "not found".
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { NotFoundError, errorMessage } from '../../domain/errors.js';
import type { BotChangedEvent } from '../../domain/events.js';
import { BOT_AREAS, areaPrefix, type BotArea } from '../../domain/object-keys.js';
import type { ObjectStore } from '../../ports/objects.js';
import type { DesiredStateStore } from '../../ports/store.js';
import type { KeyedLock } from './keyed-lock.js';

export interface RemoveResult {
  readonly id: string;
  /** False when the id had no bot record: what was left under it was deleted. */
  readonly hadRecord: boolean;
  readonly keptData: boolean;
  /** Objects deleted under the bot's prefixes, all areas together. */
  readonly objectsDeleted: number;
  /** The same, per area, so a caller can say exactly what went. */
  readonly deletedObjects: Readonly<Record<BotArea, number>>;
  /**
   * False when the container was still up when the wait ended: what its final sync writes
   * is deleted later, once the services report it gone.
   */
  readonly containerGone: boolean;
}

export const REMOVE_DEFAULTS = { waitMs: 20_000, pollMs: 200, latePurgeMs: 10 * 60_000 } as const;

/** What a container writes; code is only ever written by uploads. */
const CONTAINER_WRITTEN_AREAS: readonly BotArea[] = ['state', 'logs', 'runs'];

export interface BotRemovalOptions {
  readonly store: DesiredStateStore;
  readonly objects: ObjectStore;
  /** The registry's lock: the late purge takes it so it cannot race a new deploy. */
  readonly lock: KeyedLock;
  readonly publish: (event: BotChangedEvent) => Promise<void>;
  readonly onWarning: (message: string, err?: unknown) => void;
  readonly waitMs: number;
  readonly pollMs: number;
  readonly latePurgeMs: number;
  /** Aborted when the registry closes: stops late purges. */
  readonly background: AbortSignal;
}

export class BotRemoval {
  constructor(private readonly o: BotRemovalOptions) {}

  /** Call under the bot's lock. */
  async remove(id: string, keepData: boolean, signal?: AbortSignal): Promise<RemoveResult> {
    const hadRecord = await this.deleteRecord(id, signal);
    const areas = areasToDelete(hadRecord, keepData);
    if (!hadRecord && !(await this.anyObject(id, areas, signal))) throw new NotFoundError(notFoundMessage(id, keepData));
    // From here on the caller going away must not leave the removal half done: no signal.
    const touchesContainerData = areas.some((a) => CONTAINER_WRITTEN_AREAS.includes(a));
    const containerGone = touchesContainerData ? await this.waitForContainerGone(id) : await this.containerGone(id);
    const deletedObjects = await this.deleteAreas(id, areas);
    if (touchesContainerData && !containerGone) void this.purgeWhenGone(id);
    const objectsDeleted = BOT_AREAS.reduce((sum, a) => sum + deletedObjects[a], 0);
    return { id, hadRecord, keptData: keepData, objectsDeleted, deletedObjects, containerGone };
  }

  /** True when this call deleted the record (false: there was none, or another writer deleted it first). */
  private async deleteRecord(id: string, signal?: AbortSignal): Promise<boolean> {
    const current = await this.o.store.getBot(id, signal);
    if (!current || !(await this.o.store.deleteBot(id, signal))) return false;
    await this.o.publish({ id, generation: current.generation + 1, op: 'deleted' });
    return true;
  }

  private async anyObject(id: string, areas: readonly BotArea[], signal?: AbortSignal): Promise<boolean> {
    for (const area of areas) {
      for await (const _ of this.o.objects.list(areaPrefix(area, id), signal)) return true;
    }
    return false;
  }

  private async deleteAreas(id: string, areas: readonly BotArea[]): Promise<Record<BotArea, number>> {
    const deleted = Object.fromEntries(BOT_AREAS.map((a) => [a, 0])) as Record<BotArea, number>;
    for (const area of areas) deleted[area] = await this.o.objects.deletePrefix(areaPrefix(area, id));
    return deleted;
  }

  /**
   * The services clear the status once the container is gone; a status without a container
   * means none runs. A scheduled bot has no status: a run record still `running` means its
   * container (and its final sync) is not done yet; the scheduler deletes the records of a
   * removed bot once its runs have stopped.
   */
  private async containerGone(id: string, signal?: AbortSignal): Promise<boolean> {
    const status = await this.o.store.getStatus(id, signal);
    if (status !== null && status.containerId !== undefined) return false;
    const runs = await this.o.store.listRuns(id, 5, signal);
    return !runs.some((r) => r.status === 'running');
  }

  private async waitForContainerGone(id: string): Promise<boolean> {
    const deadline = Date.now() + this.o.waitMs;
    for (;;) {
      if (await this.containerGone(id)) return true;
      if (Date.now() >= deadline) return false;
      await sleep(this.o.pollMs);
    }
  }

  /** Deletes what a slow container's final sync wrote after `remove` returned, unless the bot is back. */
  private async purgeWhenGone(id: string): Promise<void> {
    const signal = this.o.background;
    const deadline = Date.now() + this.o.latePurgeMs;
    try {
      while (!(await this.containerGone(id, signal))) {
        if (Date.now() >= deadline) return this.o.onWarning(`objects of removed bot ${id} may be left: its container did not go away`);
        await sleep(this.o.pollMs, undefined, { signal, ref: false });
      }
      await this.o.lock.run(id, async () => {
        if (await this.o.store.getBot(id, signal)) return; // deployed again meanwhile: its data now
        for (const area of CONTAINER_WRITTEN_AREAS) await this.o.objects.deletePrefix(areaPrefix(area, id), signal);
      });
    } catch (err) {
      if (!signal.aborted) this.o.onWarning(`deferred purge of removed bot ${id} failed: ${errorMessage(err)}`, err);
    }
  }
}

/**
 * A real bot: everything, or nothing with keepData. Leftovers of an id without a record:
 * its packages always (nothing can run them), its state and logs unless keepData.
 */
function areasToDelete(hadRecord: boolean, keepData: boolean): readonly BotArea[] {
  if (!keepData) return BOT_AREAS;
  return hadRecord ? [] : ['code'];
}

function notFoundMessage(id: string, keepData: boolean): string {
  const what = keepData ? 'no package is stored under its id (keepData keeps any state and logs)' : 'nothing is stored under its id';
  return `bot ${JSON.stringify(id)} does not exist and ${what}`;
}
