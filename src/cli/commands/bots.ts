/** The read and manage commands: ls, inspect, logs, state, enable, disable, rm. */
import type { BotView, StateSnapshot } from '../../core/queries/index.js';
import type { Bot } from '../../domain/bot.js';
import type { LogEntry } from '../../domain/logs.js';
import { checkBotId, parseSince, parseWholeNumber } from '../args.js';
import type { ApiClient } from '../client.js';
import { printJson, type CliContext } from '../context.js';
import { botsTable, inspectText, logLine, stateText } from '../present.js';

export const botPath = (id: string, rest = '') => `/v1/bots/${encodeURIComponent(checkBotId(id))}${rest}`;

export interface JsonFlag {
  readonly json?: boolean;
}

export async function listBots(ctx: CliContext, client: ApiClient, flags: JsonFlag): Promise<BotView[]> {
  const { bots } = await client.get<{ bots: BotView[] }>('/v1/bots', { signal: ctx.signal, expect: ['bots'] });
  if (flags.json) printJson(ctx, bots);
  else ctx.io.out(botsTable(bots, ctx.now()));
  return bots;
}

export async function inspectBot(ctx: CliContext, client: ApiClient, id: string, flags: JsonFlag): Promise<void> {
  const view = await client.get<BotView>(botPath(id), { signal: ctx.signal, expect: ['bot'] });
  if (flags.json) printJson(ctx, view);
  else ctx.io.out(inspectText(view, ctx.now()));
}

export async function showState(ctx: CliContext, client: ApiClient, id: string, flags: JsonFlag): Promise<StateSnapshot> {
  const snapshot = await client.get<StateSnapshot>(botPath(id, '/state'), { signal: ctx.signal });
  if (flags.json) printJson(ctx, snapshot);
  else ctx.io.out(stateText(snapshot, ctx.now()));
  return snapshot;
}

export interface LogsFlags extends JsonFlag {
  readonly tail?: string;
  readonly since?: string;
  readonly follow?: boolean;
  /** Only the lines of one scheduled run. */
  readonly run?: string;
}

/** The API's range for `tail`; 0 is "nothing from the past", which makes sense with `-f`. */
export const MAX_TAIL = 100_000;

/** Prints entries as they come; with `--json` one JSON object per line (NDJSON). */
export async function showLogs(ctx: CliContext, client: ApiClient, id: string, flags: LogsFlags): Promise<void> {
  const query = {
    tail: flags.tail === undefined ? undefined : parseWholeNumber('--tail', flags.tail, 0, MAX_TAIL),
    since: flags.since === undefined ? undefined : parseSince(flags.since, ctx.now()),
    runId: flags.run,
  };
  const print = (entry: LogEntry) => ctx.io.out(flags.json ? `${JSON.stringify(entry)}\n` : `${logLine(entry)}\n`);
  if (!flags.follow) {
    const { entries } = await client.get<{ entries: LogEntry[] }>(botPath(id, '/logs'), { query, signal: ctx.signal, expect: ['entries'] });
    entries.forEach(print);
    return;
  }
  await followLogs(ctx, client, id, query, print);
}

/** `-f`: the server streams NDJSON (first the page asked for, then every new entry) until Ctrl-C. */
async function followLogs(
  ctx: CliContext,
  client: ApiClient,
  id: string,
  query: { tail?: number; since?: string; runId?: string | undefined },
  print: (entry: LogEntry) => void,
): Promise<void> {
  const tail = query.tail ?? (query.since === undefined ? 20 : undefined);
  for await (const line of client.lines(botPath(id, '/logs'), { ...query, tail, follow: 1 }, ctx.signal)) {
    try {
      const entry = JSON.parse(line) as LogEntry;
      if (typeof entry?.line === 'string') print(entry);
    } catch {
      // A line that is not JSON cannot come from the server's writer; skip it rather than stop following.
    }
  }
}

export async function setEnabled(ctx: CliContext, client: ApiClient, id: string, enabled: boolean, flags: JsonFlag): Promise<void> {
  const result = await client.request<{ bot: Pick<Bot, 'id'> & Partial<Pick<Bot, 'kind' | 'schedule'>>; op: string; changed: boolean }>(
    'POST',
    botPath(id, enabled ? '/enable' : '/disable'),
    { signal: ctx.signal, expect: ['bot', 'changed'] },
  );
  if (flags.json) return printJson(ctx, result.body);
  const verb = enabled ? 'enabled' : 'disabled';
  ctx.io.out(result.body.changed ? `${id} ${verb}: ${enabledEffect(id, result.body.bot, enabled)}\n` : `${id} was already ${verb}\n`);
}

/**
 * What enabling or disabling does next, by kind: a live bot has a container to start or
 * stop; a scheduled bot has none between runs, only slots to run or skip.
 */
export function enabledEffect(id: string, bot: Partial<Pick<Bot, 'kind' | 'schedule'>>, enabled: boolean): string {
  if (bot.kind === 'scheduled') {
    const when = bot.schedule ? ` of "${bot.schedule.cron}" (${bot.schedule.timezone})` : '';
    return enabled
      ? `it runs at its next slot${when}, with no catch-up of the slots it missed (berth ls shows NEXT RUN)`
      : `no further slot runs (only one already starting, at most 5 s away); a run in progress finishes (\`berth runs ${id}\` shows it)`;
  }
  return enabled
    ? 'it starts within one reconcile'
    : 'its container is being stopped (the bot saves its state first) and removed; berth ls shows stopping until it is gone';
}

interface RemoveBody {
  readonly id: string;
  /** Absent from servers older than leftover removal: they only ever removed real bots. */
  readonly hadRecord?: boolean;
  readonly keptData: boolean;
  readonly objectsDeleted: number;
  readonly deletedObjects?: Readonly<Record<string, number>>;
}

export async function removeBot(ctx: CliContext, client: ApiClient, id: string, flags: JsonFlag & { keepData?: boolean }): Promise<void> {
  const { body } = await client.request<RemoveBody>('DELETE', botPath(id), {
    query: { keepData: flags.keepData ? 'true' : undefined },
    signal: ctx.signal,
  });
  if (flags.json) return printJson(ctx, body);
  ctx.io.out(`${removalText(id, body)}\n`);
}

export function removalText(id: string, body: RemoveBody): string {
  if (body.hadRecord === false) {
    const areas = Object.entries(body.deletedObjects ?? {}).filter(([, n]) => n > 0).map(([area, n]) => `${area}: ${n}`);
    const kept = body.keptData ? '; its state and logs, if any, were kept' : '';
    return `${id} had no bot record; deleted the ${body.objectsDeleted} object(s) left under its id (${areas.join(', ')})${kept}`;
  }
  return body.keptData
    ? `${id} removed; its code, state and logs were kept in the object store`
    : `${id} removed with its code, state and logs (${body.objectsDeleted} object(s))`;
}
