/** Scheduled bots from the command line: `berth run <id>` (run now) and `berth runs <id>` (history). */
import type { RunHistory, RunNowResult } from '../../core/queries/index.js';
import type { Run } from '../../domain/run.js';
import { parsePositiveInt } from '../args.js';
import type { ApiClient } from '../client.js';
import { printJson, type CliContext } from '../context.js';
import { runsTable } from '../present.js';
import { botPath, type JsonFlag } from './bots.js';

export async function runNow(ctx: CliContext, client: ApiClient, id: string, flags: JsonFlag): Promise<RunNowResult> {
  const { body } = await client.request<RunNowResult>('POST', botPath(id, '/run'), { signal: ctx.signal });
  if (flags.json) printJson(ctx, body);
  else if (body.run) ctx.io.out(runNowMessage(body.run));
  else ctx.io.out(`run ${body.requested.runId} of ${id} requested: a scheduler starts it (\`berth runs ${id}\` shows it)\n`);
  return body;
}

export function runNowMessage(run: Run): string {
  switch (run.status) {
    case 'running':
      return `started run ${run.runId} of ${run.botId}\n  berth runs ${run.botId}    berth logs ${run.botId} --run ${run.runId}\n`;
    case 'skipped':
      return `run ${run.runId} of ${run.botId} skipped: ${run.reason ?? 'another run is going'}\n`;
    default:
      return `run ${run.runId} of ${run.botId} ${run.status}${run.reason ? `: ${run.reason}` : ''}\n`;
  }
}

export async function listRuns(ctx: CliContext, client: ApiClient, id: string, flags: JsonFlag & { limit?: string }): Promise<Run[]> {
  const limit = flags.limit === undefined ? undefined : parsePositiveInt('--limit', flags.limit, 500);
  // kind and enabled are absent from servers older than them.
  const { runs, kind, enabled } = await client.get<Partial<RunHistory> & { runs: Run[] }>(botPath(id, '/runs'), { query: { limit }, signal: ctx.signal, expect: ['runs'] });
  if (flags.json) printJson(ctx, runs);
  else ctx.io.out(runsTable(id, runs, { ...(kind !== undefined ? { kind } : {}), ...(enabled !== undefined ? { enabled } : {}) }));
  return runs;
}
