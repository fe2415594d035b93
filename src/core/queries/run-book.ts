/**
 * Run history and "run now" for the API (DESIGN §3, §8). With a scheduler in the same
 * process (`berth serve`) a manual run starts at once and the answer is its Run record;
 * an API-only process publishes the request on the event bus and answers with the run id
 * a scheduler will use (every scheduler hears it; the create-once record lets one run it).
 */
import type { Bot, BotKind } from '../../domain/bot.js';
import { ConflictError, NotFoundError } from '../../domain/errors.js';
import { subjects, type RunRequestedEvent } from '../../domain/events.js';
import { DEFAULT_RUN_PAGE, type Run } from '../../domain/run.js';
import type { EventBus } from '../../ports/events.js';
import type { DesiredStateStore } from '../../ports/store.js';
import { manualRunId } from '../schedule/run-ids.js';

export interface ManualRunner {
  runNow(botId: string, runId?: string): Promise<Run>;
}

export interface RunBookOptions {
  readonly store: DesiredStateStore;
  readonly events?: EventBus;
  /** The in-process scheduler, when this process runs one. */
  readonly scheduler?: ManualRunner;
  readonly clock?: () => Date;
}

/** Answer to "run now": the run itself, or the request handed to the schedulers. */
export type RunNowResult = { readonly run: Run; readonly requested?: undefined } | { readonly requested: RunRequestedEvent; readonly run?: undefined };

/** A bot's runs, with what a reader needs to say why there are none (a live or a disabled bot). */
export interface RunHistory {
  readonly kind: BotKind;
  readonly enabled: boolean;
  readonly runs: Run[];
}

export class RunBook {
  constructor(private readonly o: RunBookOptions) {}

  async list(botId: string, limit = DEFAULT_RUN_PAGE, signal?: AbortSignal): Promise<RunHistory> {
    const bot = await this.bot(botId, signal);
    return { kind: bot.kind, enabled: bot.enabled, runs: await this.o.store.listRuns(botId, limit, signal) };
  }

  async get(botId: string, runId: string, signal?: AbortSignal): Promise<Run> {
    const run = await this.o.store.getRun(botId, runId, signal);
    if (!run) throw new NotFoundError(`bot ${JSON.stringify(botId)} has no run ${JSON.stringify(runId)}`);
    return run;
  }

  async runNow(botId: string, signal?: AbortSignal): Promise<RunNowResult> {
    const bot = await this.bot(botId, signal);
    if (bot.kind !== 'scheduled') throw new ConflictError(`bot ${botId} is a live bot; only scheduled bots can be run now`);
    if (!bot.enabled) throw new ConflictError(`bot ${botId} is disabled; enable it to run it`);
    if (this.o.scheduler) return { run: await this.o.scheduler.runNow(botId) };
    if (!this.o.events) throw new ConflictError('no scheduler runs in this process and no event bus reaches one');
    const at = (this.o.clock ?? (() => new Date()))();
    const requested: RunRequestedEvent = { id: botId, runId: manualRunId(at), at: at.toISOString() };
    await this.o.events.publish(subjects.runRequested(botId), requested, signal);
    return { requested };
  }

  private async bot(botId: string, signal?: AbortSignal): Promise<Bot> {
    const bot = await this.o.store.getBot(botId, signal);
    if (!bot) throw new NotFoundError(`bot ${JSON.stringify(botId)} does not exist`);
    return bot;
  }
}
