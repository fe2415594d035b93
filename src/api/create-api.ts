/**
 * The HTTP API (DESIGN §1; shapes in docs/api.md). Builds the fastify instance; the
 * composition root listens (default 127.0.0.1:7070) and decides whether a token is needed.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { LogReader } from '../core/queries/log-reader.js';
import { RunBook, type ManualRunner } from '../core/queries/run-book.js';
import type { StateReader } from '../core/queries/state-reader.js';
import { StatusView } from '../core/queries/status-view.js';
import type { DependencyHealth } from '../domain/status.js';
import type { EventBus } from '../ports/events.js';
import type { DesiredStateStore } from '../ports/store.js';
import { bearerTokenCheck, type TokenCheck } from './auth.js';
import type { Registry, RouteContext } from './context.js';
import { answerExpectContinue } from './expect-continue.js';
import { toHttpError } from './http-errors.js';
import { prototypeKeyError } from './prototype-keys.js';
import { botRoutes } from './routes/bots.js';
import { observeRoutes } from './routes/observe.js';
import { PACKAGE_MEDIA_TYPES, packageRoutes } from './routes/package.js';
import { runRoutes } from './routes/runs.js';
import { sweepStaleUploads } from './upload.js';

export interface ApiOptions {
  readonly registry: Registry;
  readonly logs: LogReader;
  readonly state: StateReader;
  readonly store: DesiredStateStore;
  /** Carries "run now" to the schedulers when none runs in this process. */
  readonly events?: EventBus;
  /** The in-process scheduler (`berth serve`): manual runs start at once. */
  readonly scheduler?: ManualRunner;
  readonly health: () => readonly DependencyHealth[] | Promise<readonly DependencyHealth[]>;
  /** `docker`, `process`, …: shown by /v1/health. */
  readonly runtimeName: string;
  /** When set, every request needs `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Largest package upload accepted. */
  readonly bodyLimitBytes: number;
  /** Largest JSON request body; default 1 MiB. */
  readonly jsonBodyLimitBytes?: number;
  /** Where uploads are staged; default the OS temp directory. */
  readonly uploadDir?: string;
  readonly logger?: FastifyBaseLogger;
  readonly version?: string;
  readonly clock?: () => Date;
  readonly followKeepAliveMs?: number;
}

export const API_DEFAULTS = { jsonBodyLimitBytes: 1024 * 1024, followKeepAliveMs: 15_000 } as const;

const REQUEST_TIMEOUT_MS = 10 * 60 * 1000;

/** An upload directory this old belongs to a process that died mid-upload. */
const STALE_UPLOAD_MS = 60 * 60 * 1000;

export function createApi(options: ApiOptions): FastifyInstance {
  const jsonLimitBytes = options.jsonBodyLimitBytes ?? API_DEFAULTS.jsonBodyLimitBytes;
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    bodyLimit: jsonLimitBytes,
    genReqId: () => randomUUID(),
    // Ids come from us only: a client-chosen id could be used to confuse the logs.
    requestIdHeader: false,
    return503OnClosing: true,
    // Long ids must reach the id validation (400 naming `id`), not fall out as a 404.
    routerOptions: { maxParamLength: 1000 },
    // Time to receive a whole request (an upload); responses such as a followed log are not limited.
    requestTimeout: REQUEST_TIMEOUT_MS,
  });
  const ctx: RouteContext = {
    registry: options.registry,
    logs: options.logs,
    state: options.state,
    status: new StatusView({ store: options.store, logs: options.logs, stateProblems: options.state, ...(options.clock ? { clock: options.clock } : {}) }),
    runs: new RunBook({
      store: options.store,
      ...(options.events ? { events: options.events } : {}),
      ...(options.scheduler ? { scheduler: options.scheduler } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
    }),
    health: options.health,
    runtimeName: options.runtimeName,
    version: options.version ?? '0.0.0',
    packageLimitBytes: options.bodyLimitBytes,
    uploadDir: options.uploadDir,
    clock: options.clock ?? (() => new Date()),
    followKeepAliveMs: options.followKeepAliveMs ?? API_DEFAULTS.followKeepAliveMs,
  };

  useLenientJsonParser(app, jsonLimitBytes);
  let tokenCheck: TokenCheck | undefined;
  if (options.token !== undefined) {
    if (options.token.length === 0) throw new Error('the API token must not be empty');
    const check = bearerTokenCheck(options.token);
    tokenCheck = check;
    app.addHook('onRequest', async (request) => check(request.headers.authorization));
  }
  answerExpectContinue(app, {
    limitFor: (url) => (isPackageUrl(url) ? options.bodyLimitBytes : jsonLimitBytes),
    ...(tokenCheck ? { tokenCheck } : {}),
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.setErrorHandler((err, request, reply) => {
    const accepts = isPackageUrl(request.url) ? PACKAGE_MEDIA_TYPES : ['application/json'];
    const { status, body } = toHttpError(err, { requestId: request.id, jsonLimitBytes, accepts });
    if (status >= 500 && status !== 503) request.log.error({ err }, 'request failed');
    if (status === 401) reply.header('www-authenticate', 'Bearer realm="berth"');
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: { code: 'not-found', message: `no route ${request.method} ${request.url.split('?')[0]}` } }),
  );

  if (options.uploadDir !== undefined) {
    const dir = options.uploadDir;
    app.addHook('onReady', async () => {
      await sweepStaleUploads(dir, STALE_UPLOAD_MS).catch((err: unknown) => app.log.warn({ err }, 'sweeping old uploads failed'));
    });
  }

  botRoutes(app, ctx);
  observeRoutes(app, ctx);
  runRoutes(app, ctx);
  app.register(async (scope) => packageRoutes(scope, ctx));
  return app;
}

function isPackageUrl(url: string): boolean {
  return url.split('?')[0]?.endsWith('/package') ?? false;
}

/**
 * fastify's JSON parser (with prototype-poisoning protection), except that an empty body
 * is "no body": `POST …/enable` with a JSON content type and nothing else is fine, and a
 * body refused for a poisoning key says which key instead of "not valid JSON".
 */
function useLenientJsonParser(app: FastifyInstance, limit: number): void {
  const strict = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  // fastify also parses text/plain by default: a text body would pass as a "string spec" (400)
  // instead of the 415 that names what is accepted.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: limit }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    strict(request, text, (err, value) => {
      if (err) done(prototypeKeyError(text) ?? err, undefined);
      else done(null, value);
    });
  });
}
