/**
 * S3 and network failures as Berth's typed errors (src/domain/errors.ts). Everything the
 * server or the network says becomes UnavailableError('objects', …) with the original as
 * `cause`: the callers (BotService, the daemon's sync) treat it as "the store is down, try
 * again later". Our own errors and aborts pass through unchanged. Messages never contain
 * credentials: neither S3 error bodies nor socket errors carry the secret key.
 */
import { BerthError, UnavailableError, errorMessage } from '../../../domain/errors.js';

/** S3 error codes that mean "no such object" on GET/HEAD. */
const MISSING_CODES = new Set(['NoSuchKey', 'NotFound']);

export function s3ErrorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isMissingObject(err: unknown): boolean {
  const code = s3ErrorCode(err);
  return code !== undefined && MISSING_CODES.has(code);
}

export function isAbort(err: unknown): boolean {
  return (err as { name?: unknown } | undefined)?.name === 'AbortError' || s3ErrorCode(err) === 'ABORT_ERR';
}

export function mapS3Error(what: string, err: unknown): Error {
  if (err instanceof BerthError || isAbort(err)) return err as Error;
  const code = s3ErrorCode(err);
  const detail = code !== undefined && !errorMessage(err).includes(code) ? `${code}: ${errorMessage(err)}` : errorMessage(err);
  return new UnavailableError('objects', `${what}: ${detail}`, { cause: err });
}

/** An S3 XML error body (`<Error><Code>…</Code><Message>…</Message></Error>`) as an Error with `code`. */
export function errorFromResponse(status: number, body: string): Error & { code: string; status: number } {
  const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1] ?? (status === 404 ? 'NotFound' : `HTTP${status}`);
  const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1] ?? `the server answered HTTP ${status}`;
  return Object.assign(new Error(message), { code, status });
}
