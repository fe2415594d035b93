/**
 * Package upload: the raw archive as the body, streamed to a temporary file under a size
 * cap, inspected and stored by the registry. Registered in its own scope so that only
 * this route accepts archive media types (and only it does not accept JSON).
 */
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../context.js';
import { requestSignal } from '../context.js';
import { idParams, parseOrThrow } from '../query.js';
import { receiveToTempFile, tooLarge } from '../upload.js';

export const PACKAGE_MEDIA_TYPES = ['application/zip', 'application/gzip', 'application/x-gzip', 'application/octet-stream'] as const;

export async function packageRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  app.removeAllContentTypeParsers();
  // The body stays a stream; the handler reads it from request.raw.
  app.addContentTypeParser([...PACKAGE_MEDIA_TYPES], (_request, _payload, done) => done(null));

  app.post('/v1/bots/:id/package', async (request, reply) => {
    const { id } = parseOrThrow(idParams, request.params);
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > ctx.packageLimitBytes) {
      reply.header('connection', 'close');
      throw tooLarge(ctx.packageLimitBytes);
    }
    const signal = requestSignal(request, reply);
    let received;
    try {
      received = await receiveToTempFile(request.raw, ctx.packageLimitBytes, ctx.uploadDir);
    } catch (err) {
      reply.header('connection', 'close');
      throw err;
    }
    try {
      return await ctx.registry.uploadPackage(id, received.file, signal);
    } finally {
      await received.cleanup();
    }
  });
}
