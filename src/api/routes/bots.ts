/** Desired state: list, inspect, deploy (PUT), enable/disable, remove. */
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../../domain/errors.js';
import { isRecord } from '../../core/registry/spec-defaults.js';
import type { RouteContext } from '../context.js';
import { requestSignal } from '../context.js';
import { deleteQuery, idParams, parseOrThrow } from '../query.js';

export function botRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get('/v1/bots', async (request, reply) => {
    return { bots: await ctx.status.list(requestSignal(request, reply)) };
  });

  app.get('/v1/bots/:id', async (request, reply) => {
    const { id } = parseOrThrow(idParams, request.params);
    return ctx.status.get(id, requestSignal(request, reply));
  });

  app.put('/v1/bots/:id', async (request, reply) => {
    const { id } = parseOrThrow(idParams, request.params);
    const body = request.body;
    if (!isRecord(body)) throw ValidationError.single('', 'the request body must be a JSON object (the bot spec)');
    if (body.id !== undefined && body.id !== id) {
      throw ValidationError.single('id', `must match the id in the path (${JSON.stringify(id)}) or be left out`);
    }
    const result = await ctx.registry.applySpec({ ...body, id }, requestSignal(request, reply));
    return reply.code(result.op === 'created' ? 201 : 200).send(result);
  });

  for (const [action, enabled] of [['enable', true], ['disable', false]] as const) {
    app.post(`/v1/bots/:id/${action}`, async (request, reply) => {
      const { id } = parseOrThrow(idParams, request.params);
      return ctx.registry.setEnabled(id, enabled, requestSignal(request, reply));
    });
  }

  app.delete('/v1/bots/:id', async (request, reply) => {
    const { id } = parseOrThrow(idParams, request.params);
    const { keepData } = parseOrThrow(deleteQuery, request.query);
    const result = await ctx.registry.remove(id, { keepData: keepData ?? false }, requestSignal(request, reply));
    return { ...result, deleted: true };
  });
}
