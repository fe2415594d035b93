/** Pure rendering of API answers for people (`--json` prints the answers as they are). */
import type { BotKind } from '../domain/bot.js';
import type { LogEntry } from '../domain/logs.js';
import type { Run } from '../domain/run.js';
import { nothingSaved, type StateProblem } from '../domain/state-problem.js';
import type { BotView, StateSnapshot } from '../core/queries/index.js';
import { formatAge, formatLastExit, formatTable, truncate } from './format.js';

export const BOTS_TABLE_HEADERS = ['ID', 'NAME', 'KIND', 'RUNTIME', 'STATE', 'RESTARTS', 'LAST EXIT', 'VERSION', 'AGE'] as const;

export function botsTable(views: readonly BotView[], now: Date): string {
  if (views.length === 0) return 'No bots yet. Deploy one with `berth deploy <dir>` (try examples/python-counter).\n';
  const rows = views.map(({ bot, status, state, schedule }) => [
    bot.id,
    truncate(bot.name, 24),
    bot.kind,
    bot.runtime,
    state,
    String(status?.restartCount ?? 0),
    lastExitText({ status, schedule }, now),
    bot.code.version,
    formatAge(bot.createdAt, now),
    ...(views.some((v) => v.schedule) ? [schedule ? formatNextRun(schedule.nextRunAt, now) : '-'] : []),
  ]);
  const failing = views.filter((v) => v.recentLogs && v.recentLogs.length > 0);
  const notes = failing.map((v) => {
    const last = v.recentLogs?.at(-1);
    const reason = v.status?.lastError ?? (last ? last.line : '');
    return `${v.bot.id}: ${v.state}${reason ? ` — ${truncate(reason, 160)}` : ''} (see \`berth logs ${v.bot.id}\`)`;
  });
  // The NEXT RUN column appears only when there are scheduled bots.
  const headers = views.some((v) => v.schedule) ? [...BOTS_TABLE_HEADERS, 'NEXT RUN'] : BOTS_TABLE_HEADERS;
  return formatTable(headers, rows) + (notes.length ? `\n${notes.join('\n')}\n` : '');
}

export function inspectText(view: BotView, now: Date): string {
  const { bot, status, state } = view;
  const lines: [string, string][] = [
    ['id', bot.id],
    ['name', bot.name],
    ['kind', bot.kind],
    ['runtime', bot.runtime],
    ['entrypoint', bot.entrypoint],
    ['package', bot.flavor === 'the0' ? 'bot-config.yaml (the0 format)' : 'berth'],
    ['code', `${bot.code.sha256.startsWith(bot.code.version) ? '' : `${bot.code.version}, `}sha256 ${bot.code.sha256.slice(0, 12)}…, ${bot.code.size} bytes, ${bot.code.format}`],
    ['enabled', String(bot.enabled)],
    ['state', state],
    ['restarts', String(status?.restartCount ?? 0)],
    ['last exit', lastExitText(view, now) + exitRunNote(view)],
  ];
  if (view.stateProblem) lines.push(['state saving', stateProblemLine(view.stateProblem, now)]);
  if (status?.lastError) lines.push(['last error', status.lastError]);
  if (status?.backoffUntil) lines.push(['next try', `${status.backoffUntil} (back-off ${status.backoffCount ?? 0})`]);
  if (status?.containerId) lines.push(['container', status.containerId.slice(0, 12)]);
  if (bot.schedule) {
    const s = bot.schedule;
    lines.push(['schedule', `${s.cron} (${s.timezone}), overlap ${s.overlap}, catch-up ${s.catchUp}${s.maxRuntimeSeconds ? `, max ${s.maxRuntimeSeconds} s` : ''}`]);
    if (view.schedule) {
      lines.push(['next run', view.schedule.nextRunAt ? `${view.schedule.nextRunAt} (${formatNextRun(view.schedule.nextRunAt, now)})` : '-']);
      const last = view.schedule.lastRun;
      if (last) lines.push(['last run', `${last.runId} ${last.status}${last.exitCode !== undefined ? ` (exit ${last.exitCode})` : ''}, ${last.trigger} for ${last.scheduledFor}`]);
    }
  }
  lines.push(
    ['resources', `${bot.resources.memoryMb} MB, ${bot.resources.cpus} CPU, ${bot.resources.pids} pids`],
    ['config', JSON.stringify(bot.config)],
    ['env', Object.keys(bot.env).length ? Object.keys(bot.env).sort().join(', ') : '-'],
    ['generation', String(bot.generation)],
    ['created', `${bot.createdAt} (${formatAge(bot.createdAt, now)} ago)`],
    ['updated', `${bot.updatedAt} (${formatAge(bot.updatedAt, now)} ago)`],
  );
  const width = Math.max(...lines.map(([k]) => k.length));
  let text = lines.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n';
  if (view.recentLogs?.length) {
    text += `\nrecent log:\n${view.recentLogs.map((e) => `  ${logLine(e)}`).join('\n')}\n`;
  }
  return text;
}

/**
 * A live bot's last container exit; a scheduled bot's newest run that exited (its newest
 * run may have been skipped or still be going). Servers older than `lastExit` give only
 * the newest run.
 */
function lastExitText({ status, schedule }: Pick<BotView, 'status' | 'schedule'>, now: Date): string {
  if (!schedule) return formatLastExit(status?.lastExitCode, status?.lastExitAt, now);
  if (schedule.lastExit === undefined) return formatLastExit(schedule.lastRun?.exitCode, schedule.lastRun?.finishedAt, now);
  return formatLastExit(schedule.lastExit?.exitCode, schedule.lastExit?.finishedAt, now);
}

/** Which run exited, when it is not the last run shown below it. */
function exitRunNote({ schedule }: Pick<BotView, 'schedule'>): string {
  const exit = schedule?.lastExit;
  return exit && exit.runId !== schedule.lastRun?.runId ? `, run ${exit.runId}` : '';
}

/** `2024-05-01T12:00:00.123Z  count=3`; stderr and Berth's own lines are marked. */
export function logLine(entry: LogEntry): string {
  const mark = entry.stream === 'err' ? ' [err]' : entry.stream === 'berth' ? ' [berth]' : '';
  const run = entry.runId ? ` (${entry.runId})` : '';
  return `${entry.time}${mark}${run}  ${entry.line}`;
}

/** "the newest state is NOT being saved since …: reason", or what a partial save leaves out. */
export function stateProblemLine(problem: StateProblem, now: Date): string {
  const since = `since ${problem.since} (${formatAge(problem.since, now)} ago)`;
  return nothingSaved(problem.kind)
    ? `the newest state is NOT being saved ${since}: ${problem.message}`
    : `the newest state is saved incompletely ${since}: ${problem.message}`;
}

export function stateText(snapshot: StateSnapshot, now: Date): string {
  const warning = snapshot.problem ? `! ${stateProblemLine(snapshot.problem, now)}${stateProblemHint(snapshot)}\n` : '';
  return warning + persistedStateText(snapshot, now);
}

function stateProblemHint(snapshot: StateSnapshot): string {
  if (!snapshot.problem || !nothingSaved(snapshot.problem.kind) || !snapshot.exists) return '';
  return '\n  what follows is the last state that was saved';
}

function persistedStateText(snapshot: StateSnapshot, now: Date): string {
  if (snapshot.error) return `state of ${snapshot.botId} cannot be shown: ${snapshot.error}\n`;
  if (!snapshot.exists && snapshot.problem) return `${snapshot.botId} has no persisted state.\n`;
  if (!snapshot.exists) return `${snapshot.botId} has no persisted state yet (it has not saved anything, or its first save is still on the way).\n`;
  const parts: string[] = [];
  const when = snapshot.updatedAt ? `, saved ${formatAge(snapshot.updatedAt, now)} ago (${snapshot.updatedAt})` : '';
  parts.push(`# ${snapshot.botId}: ${snapshot.files.filter((f) => f.type === 'file').length} file(s)${when}`);
  if (snapshot.stateJson !== undefined) parts.push(`state.json:\n${JSON.stringify(snapshot.stateJson, null, 2)}`);
  else if (snapshot.raw !== undefined) parts.push(`state.json (not valid JSON):\n${snapshot.raw}`);
  if (snapshot.keys && Object.keys(snapshot.keys).length) {
    parts.push(
      `keys (.the0-state):\n${Object.entries(snapshot.keys)
        .map(([k, v]) => `  ${k} = ${JSON.stringify(v)}`)
        .join('\n')}`,
    );
  }
  if (snapshot.stateJson === undefined && snapshot.raw === undefined && !snapshot.keys) {
    parts.push(`files:\n${snapshot.files.map((f) => `  ${f.path}${f.type === 'file' ? ` (${f.size} bytes)` : `/`}`).join('\n')}`);
  }
  if (snapshot.truncated) parts.push('(more files than shown)');
  return parts.join('\n') + '\n';
}

/** `in 4m` / `now` / `-`. */
export function formatNextRun(at: string | null | undefined, now: Date): string {
  if (!at) return '-';
  const t = Date.parse(at);
  if (Number.isNaN(t)) return '-';
  if (t <= now.getTime()) return 'now';
  return `in ${formatAge(now.toISOString(), new Date(t))}`;
}

export const RUNS_TABLE_HEADERS = ['RUN', 'TRIGGER', 'SCHEDULED FOR', 'STARTED', 'DURATION', 'STATUS', 'EXIT', 'LAST OUTPUT'] as const;

export function runsTable(botId: string, runs: readonly Run[], bot: { kind?: BotKind; enabled?: boolean } = {}): string {
  if (runs.length === 0) return noRunsText(botId, bot);
  const rows = runs.map((r) => [
    r.runId,
    r.trigger,
    r.scheduledFor,
    r.startedAt ?? '-',
    formatDuration(r.startedAt, r.finishedAt),
    r.status,
    r.exitCode === undefined ? '-' : String(r.exitCode),
    truncate(r.reason ?? r.outputTail?.filter((l) => l.trim() !== '').at(-1) ?? '', 60),
  ]);
  return formatTable(RUNS_TABLE_HEADERS, rows);
}

/** Why there are no runs, and only advice that works for this bot (`berth run` refuses live and disabled bots). */
function noRunsText(botId: string, bot: { kind?: BotKind; enabled?: boolean }): string {
  if (bot.kind === 'live') {
    return `${botId} is a live bot, and a live bot has no runs (only scheduled bots do): \`berth logs ${botId}\` shows its output, \`berth inspect ${botId}\` its status.\n`;
  }
  if (bot.enabled === false) {
    return `${botId} has no runs yet and is disabled (\`berth enable ${botId}\` lets it run on its schedule; then \`berth run ${botId}\` starts one now).\n`;
  }
  return `${botId} has no runs yet (\`berth run ${botId}\` starts one now).\n`;
}

export function formatDuration(from: string | undefined, to: string | undefined): string {
  if (!from || !to) return '-';
  const ms = Date.parse(to) - Date.parse(from);
  if (!Number.isFinite(ms) || ms < 0) return '-';
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : formatAge(from, new Date(Date.parse(to)));
}
