/**
 * Object bodies over plain HTTP(S) with presigned URLs. The minio client reads a stream of
 * up to its part size (64 MB) whole into memory before a PUT and uploads anything larger as
 * a multipart upload (which leaks parts on errors, DESIGN §10); it also takes no AbortSignal.
 * So bodies go through these two functions instead: one single PUT streamed with its
 * Content-Length (S3 publishes a PUT atomically and discards an incomplete body), and a GET
 * whose response stream is handed to the caller. Both honour an AbortSignal.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ValidationError } from '../../../domain/errors.js';
import { errorFromResponse } from './errors.js';

export interface TransferAgents {
  readonly http: http.Agent;
  readonly https: https.Agent;
}

/** Bytes of an error body worth reading. */
const MAX_ERROR_BODY = 64 * 1024;

function request(url: string, agents: TransferAgents, options: http.RequestOptions): http.ClientRequest {
  const secure = url.startsWith('https:');
  return (secure ? https : http).request(url, { ...options, agent: secure ? agents.https : agents.http });
}

function responseOf(req: http.ClientRequest): Promise<IncomingMessage> {
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  // Observed later (or not at all when the upload itself failed first).
  response.catch(() => undefined);
  return response;
}

async function readErrorBody(res: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of res) {
    if (body.length < MAX_ERROR_BODY) body += (chunk as Buffer).toString('utf8');
  }
  return body;
}

async function failIfNotOk(res: IncomingMessage, ok: number): Promise<void> {
  if (res.statusCode === ok) return;
  throw errorFromResponse(res.statusCode ?? 0, await readErrorBody(res));
}

/** One PUT; a body shorter or longer than `size` is cut off, so the server stores nothing. */
export async function putBody(
  url: string,
  agents: TransferAgents,
  key: string,
  body: Buffer | Readable,
  size: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  const req = request(url, agents, {
    method: 'PUT',
    headers: { 'content-length': String(size), 'content-type': 'application/octet-stream' },
    ...(signal ? { signal } : {}),
  });
  const response = responseOf(req);
  if (Buffer.isBuffer(body)) {
    req.end(body);
  } else {
    try {
      await pipeline(body, sizeGuard(key, size), req, signal ? { signal } : {});
    } catch (err) {
      req.destroy();
      body.destroy();
      throw err;
    }
  }
  const res = await response;
  try {
    await failIfNotOk(res, 200);
  } finally {
    res.resume();
  }
}

/** Passes the bytes on; fails (which aborts the request) when there are more or fewer than `size`. */
function sizeGuard(key: string, size: number): Transform {
  let seen = 0;
  const mismatch = (got: string) => ValidationError.single('size', `${key}: expected ${size} bytes, the body had ${got}`);
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > size) done(mismatch(`more than ${size}`));
      else done(null, chunk);
    },
    flush(done) {
      done(seen === size ? null : mismatch(String(seen)));
    },
  });
}

/** The object's bytes as a stream, or null for a missing key. */
export async function getBody(url: string, agents: TransferAgents, signal: AbortSignal | undefined): Promise<IncomingMessage | null> {
  const req = request(url, agents, { method: 'GET', ...(signal ? { signal } : {}) });
  const response = responseOf(req);
  req.end();
  const res = await response;
  if (res.statusCode === 404) {
    const err = errorFromResponse(404, await readErrorBody(res));
    if (err.code === 'NoSuchKey' || err.code === 'NotFound') return null;
    throw err;
  }
  await failIfNotOk(res, 200);
  return res;
}
