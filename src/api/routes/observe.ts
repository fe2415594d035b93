/** Read-only views: health, logs (optionally followed as NDJSON), persisted state. */
import type { FastifyInstance } from 'fastify';
import { once } from 'node:events';
import { runLogSpan, type LogSpan } from '../../core/queries/log-reader.js';
import type { Bot } from '../../domain/bot.js';
import { NotFoundError } from '../../domain/errors.js';
import type { RouteContext } from '../context.js';
import { requestSignal } from '../context.js';
import { idParams, logsQuery, parseOrThrow } from '../query.js';

const NDJSON = 'application/x-ndjson; charset=utf-8';

export function observeRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get('/v1/health', async (_request, reply) => {
    const dependencies = await ctx.health();
    const ok = dependencies.every((d) => d.ok);
    return reply.code(ok ? 200 : 503).send({ ok, version: ctx.version, runtime: ctx.runtimeName, dependencies });
  });

  app.get('/v1/bots/:id/logs', async (request, reply) => {
    const { id } = parseOrThrow(idParams, request.params);
    const { tail, since, runId, follow } = parseOrThrow(logsQuery(ctx.clock()), request.query);
    const signal = requestSignal(request, reply);
    const bot = await assertBotOrData(ctx, id, () => ctx.logs.exists(id, signal), signal);
    // A live bot has no runs: a follow of one of its "runs" would wait forever, silently.
    if (runId && bot?.kind === 'live') throw new NotFoundError(`bot ${JSON.stringify(id)} has no run ${JSON.stringify(runId)}: it is a live bot, and only scheduled bots have runs`);
    const during = runId ? await runSpan(ctx, id, runId, signal) : undefined;
    const options = { ...(tail !== undefined ? { tail } : {}), ...(since ? { since } : {}), ...(runId ? { runId } : {}), ...(during ? { during } : {}) };
    if (!follow) {
      const entries = await ctx.logs.read(id, options, signal);
      // Nothing for a run id is either a mistyped id (a 404 says so) or a run that printed nothing.
      // A follow may name a run whose record is still being written, so it waits instead.
      if (runId && !during && entries.length === 0) await ctx.runs.get(id, runId, signal);
      return { botId: id, entries };
    }
    if (request.method === 'HEAD') return reply.type(NDJSON).send();

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': NDJSON,
      'cache-control': 'no-store',
      'x-request-id': request.id,
    });
    // A blank line now and then lets a dead client be noticed; readers skip blank lines.
    const keepAlive = setInterval(() => res.write('\n'), ctx.followKeepAliveMs);
    try {
      for await (const entry of ctx.logs.follow(id, options, signal)) {
        if (!res.write(`${JSON.stringify(entry)}\n`)) await once(res, 'drain', { signal });
      }
    } catch (err) {
      if (!signal.aborted) request.log.error({ err }, 'log follow failed');
    } finally {
      clearInterval(keepAlive);
      res.end();
    }
  });

  app.get('/v1/bots/:id/state', async (request, reply) => {
    const { id } = parseOrThrow(idParams, request.params);
    const signal = requestSignal(request, reply);
    const snapshot = await ctx.state.read(id, signal);
    await assertBotOrData(ctx, id, async () => snapshot.exists || snapshot.problem !== undefined, signal);
    return snapshot;
  });
}

/**
 * The time a run's lines were written, from its record, so that only those days are read.
 * Without a record (pruned from the history, not written yet) or when the store fails, the
 * whole log is read as before: the lines are in the object store either way.
 */
async function runSpan(ctx: RouteContext, id: string, runId: string, signal: AbortSignal): Promise<LogSpan | undefined> {
  try {
    return runLogSpan(await ctx.runs.get(id, runId, signal));
  } catch {
    return undefined;
  }
}

/** A removed bot whose data was kept can still be read; an unknown id is a 404. */
async function assertBotOrData(ctx: RouteContext, id: string, hasData: () => Promise<boolean>, signal: AbortSignal): Promise<Bot | null> {
  const bot = await ctx.registry.get(id, signal).catch((err: unknown) => {
    if (err instanceof NotFoundError) return null;
    throw err;
  });
  if (!bot && !(await hasData())) throw new NotFoundError(`bot ${JSON.stringify(id)} does not exist`);
  return bot;
}
