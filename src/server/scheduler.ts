/**
 * Starts the ScheduleService for `berth serve` and `berth bot-scheduler` (DESIGN §1, §8)
 * on the adapters the composition root opened.
 */
import type { ServerConfig } from '../config/load.js';
import { ScheduleService } from '../core/schedule-service.js';
import type { EventBus } from '../ports/events.js';
import type { ObjectStore } from '../ports/objects.js';
import type { ContainerRuntime } from '../ports/runtime.js';
import type { DesiredStateStore } from '../ports/store.js';
import type { ServerLogger } from './logger.js';

export interface SchedulerDeps {
  readonly config: ServerConfig;
  readonly store: DesiredStateStore;
  readonly objects: ObjectStore;
  readonly events: EventBus;
  readonly runtime: ContainerRuntime;
  readonly image: string;
  readonly logger: ServerLogger;
  readonly closers: (() => Promise<void>)[];
}

export async function startScheduler(deps: SchedulerDeps): Promise<ScheduleService> {
  const { config } = deps;
  const service = new ScheduleService({
    store: deps.store,
    objects: deps.objects,
    events: deps.events,
    runtime: deps.runtime,
    image: deps.image,
    networkMode: config.network,
    graceSeconds: config.graceSeconds,
    // The desired-state safety net follows the reconcile interval; firing never polls.
    resyncIntervalMs: config.intervalMs,
    logger: deps.logger.child({ component: 'scheduler' }),
  });
  deps.closers.push(() => service.stop());
  await service.start();
  deps.logger.info({ schedules: service.size }, 'schedule service started');
  return service;
}
