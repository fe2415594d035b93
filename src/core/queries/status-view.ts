/**
 * What `berth ls` and `berth inspect` show: the desired record next to the observed status
 * (DESIGN §3), and for a bot that keeps failing, the last lines of its log so the reason
 * is visible without a second command. `inspect` also says when the newest state is not
 * being saved; `ls` does not, since that is one more object read per bot.
 */
import type { Bot } from '../../domain/bot.js';
import { NotFoundError, UnavailableError } from '../../domain/errors.js';
import type { LogEntry } from '../../domain/logs.js';
import { MAX_RUN_PAGE, type Run } from '../../domain/run.js';
import type { StateProblem } from '../../domain/state-problem.js';
import type { BotStatus, Phase } from '../../domain/status.js';
import type { DesiredStateStore } from '../../ports/store.js';
import type { LogReader } from './log-reader.js';
import type { StateReader } from './state-reader.js';

/**
 * One word for people: the observed phase, or `disabled` once a disabled bot is down.
 * Scheduled bots: `running` while a run is going, `starting` while the next one waits warm for
 * its slot, else `scheduled` (or `disabled`).
 */
export type DisplayState = Phase | 'disabled' | 'stopping' | 'scheduled';

/** Where a scheduled bot stands (DESIGN §8). */
export interface ScheduleView {
  /** ISO instant of the next slot as stored by the schedulers; null while none is stored (disabled, or no scheduler has seen it yet). */
  readonly nextRunAt: string | null;
  /** The newest run record, if any. */
  readonly lastRun: Run | null;
  /**
   * The newest run that has an exit code (a skipped, running, lost or unstarted run has
   * none), among the records the view reads anyway: the newest few, or the look-back page
   * when one is read. Null when none of them has one. (Optional for clients of servers
   * older than it.)
   */
  readonly lastExit?: LastExit | null;
}

/** Where an exit code shown for a scheduled bot comes from. */
export interface LastExit {
  readonly runId: string;
  readonly exitCode: number;
  readonly finishedAt?: string;
}

export interface BotView {
  readonly bot: Bot;
  /** Null until a service has observed the bot. */
  readonly status: BotStatus | null;
  readonly state: DisplayState;
  /** Last log lines, for bots that are crash-looping or failed. */
  readonly recentLogs?: readonly LogEntry[];
  /** Scheduled bots only. */
  readonly schedule?: ScheduleView;
  /** `GET /v1/bots/:id` only: the newest state is not being saved (whole). */
  readonly stateProblem?: StateProblem;
}

export interface StatusViewOptions {
  readonly store: DesiredStateStore;
  readonly logs: LogReader;
  /** Where `get` learns whether the state is being saved; without it, it does not say. */
  readonly stateProblems?: Pick<StateReader, 'readProblem'>;
  /** Log lines attached to a failing bot in `list` and in `get`. */
  readonly listLogLines?: number;
  readonly inspectLogLines?: number;
  readonly clock?: () => Date;
}

const FAILING: ReadonlySet<Phase> = new Set(['crash-looping', 'failed']);

/**
 * Run records `ls` reads per scheduled bot: enough that the run before a going or skipped
 * one usually has its exit code, still one small query.
 */
const RECENT_RUNS = 5;

export class StatusView {
  private readonly store: DesiredStateStore;
  private readonly logs: LogReader;
  private readonly stateProblems: Pick<StateReader, 'readProblem'> | undefined;
  private readonly listLogLines: number;
  private readonly clock: () => Date;
  private readonly inspectLogLines: number;

  constructor(options: StatusViewOptions) {
    this.store = options.store;
    this.logs = options.logs;
    this.stateProblems = options.stateProblems;
    this.listLogLines = options.listLogLines ?? 5;
    this.inspectLogLines = options.inspectLogLines ?? 20;
    this.clock = options.clock ?? (() => new Date());
  }

  async list(signal?: AbortSignal): Promise<BotView[]> {
    const [bots, statuses] = await Promise.all([this.store.listBots({}, signal), this.store.listStatuses(signal)]);
    const byBot = new Map(statuses.map((s) => [s.botId, s]));
    return Promise.all(bots.map((bot) => this.view(bot, byBot.get(bot.id) ?? null, this.listLogLines, signal)));
  }

  async get(id: string, signal?: AbortSignal): Promise<BotView> {
    const [bot, status, stateProblem] = await Promise.all([this.store.getBot(id, signal), this.store.getStatus(id, signal), this.stateProblem(id, signal)]);
    if (!bot) throw new NotFoundError(`bot ${JSON.stringify(id)} does not exist`);
    const view = await this.view(bot, status, this.inspectLogLines, signal);
    return stateProblem ? { ...view, stateProblem } : view;
  }

  /**
   * An object store that is down does not fail `inspect`, which is most wanted then; the
   * outage shows in the health and the bot's status, and `berth state` fails loudly.
   */
  private async stateProblem(id: string, signal?: AbortSignal): Promise<StateProblem | undefined> {
    return this.stateProblems?.readProblem(id, signal).catch((err: unknown) => {
      if (err instanceof UnavailableError) return undefined;
      throw err;
    });
  }

  private async view(bot: Bot, status: BotStatus | null, logLines: number, signal?: AbortSignal): Promise<BotView> {
    if (bot.kind === 'scheduled') return this.scheduledView(bot, status, signal);
    const view: BotView = { bot, status, state: displayState(bot, status) };
    if (!status || !FAILING.has(status.phase) || logLines <= 0) return view;
    return { ...view, recentLogs: await this.logs.read(bot.id, { tail: logLines }, signal) };
  }

  private async scheduledView(bot: Bot, status: BotStatus | null, signal?: AbortSignal): Promise<BotView> {
    const [state, recent] = await Promise.all([this.store.getSchedule(bot.id, signal), this.store.listRuns(bot.id, RECENT_RUNS, signal)]);
    const lastRun = recent[0] ?? null;
    const now = this.clock().getTime();
    const { going, read } = await this.goingRuns(bot.id, recent, now, signal);
    // A run started warm, ahead of its slot (ScheduleService warmStartMs), is the next run until its slot.
    const warm = going.filter((run) => isAhead(run, now)).map((run) => run.scheduledFor);
    const display: DisplayState = !bot.enabled
      ? 'disabled'
      : going.length > warm.length
        ? 'running'
        : warm.length > 0
          ? 'starting'
          : 'scheduled';
    const nextRunAt = bot.enabled ? (earliest([...warm, ...(state ? [state.nextRunAt] : [])]) ?? null) : null;
    return { bot, status, state: display, schedule: { nextRunAt, lastRun, lastExit: lastExitOf(read) } };
  }

  /**
   * The runs going on. Slots skipped because a run is still going (overlap: skip) are newer
   * records than that run, and a run started warm ahead of its slot is newer than one that
   * may still be going (overlap: allow): then one page further back (history is pruned to
   * a few hundred). Any other newest record answers by itself, and `ls` reads one small
   * page per bot. `read` is every record looked at, newest first.
   */
  private async goingRuns(botId: string, recent: readonly Run[], now: number, signal?: AbortSignal): Promise<{ going: Run[]; read: readonly Run[] }> {
    const newest = recent[0];
    if (!newest) return { going: [], read: recent };
    const lookBack = newest.status === 'skipped' || (newest.status === 'running' && isAhead(newest, now));
    if (!lookBack) return { going: newest.status === 'running' ? [newest] : [], read: recent };
    const page = await this.store.listRuns(botId, MAX_RUN_PAGE, signal);
    return { going: page.filter((run) => run.status === 'running'), read: page };
  }
}

function lastExitOf(runs: readonly Run[]): LastExit | null {
  const run = runs.find((r) => r.exitCode !== undefined);
  if (!run || run.exitCode === undefined) return null;
  return { runId: run.runId, exitCode: run.exitCode, ...(run.finishedAt !== undefined ? { finishedAt: run.finishedAt } : {}) };
}

function isAhead(run: Run, now: number): boolean {
  return Date.parse(run.scheduledFor) > now;
}

function earliest(instants: readonly string[]): string | undefined {
  return [...instants].sort((a, b) => Date.parse(a) - Date.parse(b))[0];
}

export function displayState(bot: Bot, status: BotStatus | null): DisplayState {
  const phase = status?.phase ?? 'pending';
  if (bot.enabled) return phase;
  return phase === 'running' || phase === 'starting' || phase === 'crash-looping' ? 'stopping' : 'disabled';
}
