/**
 * One mapping from errors to HTTP responses (docs/api.md): typed Berth errors keep their
 * meaning, fastify's own request errors become the same JSON shape, and anything
 * unexpected is a 500 that shows only the request id.
 */
import {
  BerthError,
  ConflictError,
  NotFoundError,
  PackageRejectedError,
  UnavailableError,
  ValidationError,
  type FieldIssue,
} from '../domain/errors.js';

export interface ErrorBody {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly issues?: readonly FieldIssue[];
    /** Package rejections: the archive entry at fault. */
    readonly entry?: string;
    /** 503: which dependency is down. */
    readonly dependency?: string;
    readonly requestId?: string;
  };
}

export interface HttpError {
  readonly status: number;
  readonly body: ErrorBody;
}

/** An error the API raises itself with a fixed status (401, 413, 415). */
export class HttpStatusError extends BerthError {
  override readonly code: string;
  constructor(
    readonly status: number,
    code: string,
    message: string,
  ) {
    super(message);
    this.code = code;
  }
}

export interface ErrorContext {
  readonly requestId: string;
  readonly jsonLimitBytes: number;
  /** Media types the route accepts, for 415 messages. */
  readonly accepts: readonly string[];
}

export function toHttpError(err: unknown, ctx: ErrorContext): HttpError {
  if (err instanceof ValidationError) return reply(400, err.code, err.message, { issues: err.issues });
  if (err instanceof PackageRejectedError) {
    return reply(422, err.code, err.message, err.entry === undefined ? {} : { entry: err.entry });
  }
  if (err instanceof NotFoundError) return reply(404, err.code, err.message);
  if (err instanceof ConflictError) return reply(409, err.code, err.message);
  if (err instanceof UnavailableError) return reply(503, err.code, err.message, { dependency: err.dependency });
  if (err instanceof HttpStatusError) return reply(err.status, err.code, err.message);
  const fastifyError = fromFastify(err, ctx);
  if (fastifyError) return fastifyError;
  return reply(500, 'internal', `internal error; quote request id ${ctx.requestId} when reporting it`, { requestId: ctx.requestId });
}

function fromFastify(err: unknown, ctx: ErrorContext): HttpError | undefined {
  const { code, statusCode } = err as { code?: unknown; statusCode?: unknown };
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return reply(413, 'body-too-large', `request body is larger than the ${ctx.jsonLimitBytes}-byte limit for JSON requests`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return reply(415, 'unsupported-media-type', `unsupported content type; this endpoint accepts ${ctx.accepts.join(', ')}`);
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return reply(400, 'malformed-json', 'request body is not valid JSON');
  }
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500 && typeof code === 'string' && code.startsWith('FST_')) {
    // fastify's own request errors carry safe, fixed messages.
    return reply(statusCode, 'bad-request', (err as Error).message);
  }
  return undefined;
}

function reply(status: number, code: string, message: string, extra: Partial<ErrorBody['error']> = {}): HttpError {
  return { status, body: { error: { code, message, ...extra } } };
}
