/** Scheduled bots' runs: history, one run, run now (DESIGN §8; shapes in docs/api.md). */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { MAX_RUN_PAGE } from '../../domain/run.js';
import type { RouteContext } from '../context.js';
import { requestSignal } from '../context.js';
import { idParams, parseOrThrow } from '../query.js';

const runParams = idParams.extend({ runId: z.string().regex(/^[a-z][0-9a-z]{1,40}$/, 'must be a run id') });

const runsQuery = z.object({
  limit: z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().min(1, 'must be at least 1').max(MAX_RUN_PAGE, `must be at most ${MAX_RUN_PAGE}`))
    .optional(),
});

export function runRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get('/v1/bots/:id/runs', async (request, reply) => {
    const { id } = parseOrThrow(idParams, request.params);
    const { limit } = parseOrThrow(runsQuery, request.query);
    const { kind, enabled, runs } = await ctx.runs.list(id, limit, requestSignal(request, reply));
    return { botId: id, kind, enabled, runs };
  });

  app.get('/v1/bots/:id/runs/:runId', async (request, reply) => {
    const { id, runId } = parseOrThrow(runParams, request.params);
    return ctx.runs.get(id, runId, requestSignal(request, reply));
  });

  app.post('/v1/bots/:id/run', async (request, reply) => {
    const { id } = parseOrThrow(idParams, request.params);
    const result = await ctx.runs.runNow(id, requestSignal(request, reply));
    return reply.code(result.run ? 201 : 202).send(result);
  });
}
