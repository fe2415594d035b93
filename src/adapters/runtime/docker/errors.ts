/** Engine errors in domain terms: 404 → NotFound, 409 → Conflict, no answer → Unavailable. */
import { BerthError, ConflictError, NotFoundError, UnavailableError, errorMessage } from '../../../domain/errors.js';

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

interface EngineError {
  readonly statusCode?: number;
  readonly code?: string;
  readonly json?: { message?: string } | null;
  readonly reason?: string;
  readonly name?: string;
}

export function statusOf(err: unknown): number | undefined {
  return (err as EngineError | null)?.statusCode;
}

function engineMessage(err: unknown): string {
  const e = err as EngineError | null;
  return e?.json?.message ?? errorMessage(err);
}

export function isAbort(err: unknown): boolean {
  return (err as EngineError | null)?.name === 'AbortError' || (err as EngineError | null)?.code === 'ABORT_ERR';
}

export function isUnreachable(err: unknown): boolean {
  const code = (err as EngineError | null)?.code;
  return statusOf(err) === undefined && code !== undefined && UNREACHABLE_CODES.has(code);
}

/** Wraps an engine error; aborts and errors that are already Berth's pass through. */
export function translate(err: unknown, what: string): unknown {
  if (err instanceof BerthError || isAbort(err)) return err;
  const status = statusOf(err);
  if (status === 404) return new NotFoundError(`${what}: ${engineMessage(err)}`, { cause: err });
  if (status === 409) return new ConflictError(`${what}: ${engineMessage(err)}`, { cause: err });
  // No HTTP status at all: the request never got an answer (socket missing, refused, reset).
  if (status === undefined) return new UnavailableError('runtime', `Docker Engine: ${what}: ${engineMessage(err)}`, { cause: err });
  return new BerthError(`${what}: ${engineMessage(err)}`, { cause: err });
}
