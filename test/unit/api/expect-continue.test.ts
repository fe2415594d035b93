/**
 * `Expect: 100-continue` on a real listener: the API says "100 Continue" only for a body it
 * would accept, so a client that waits for it never sends a body that is about to be
 * refused, and always reads the refusal instead of a reset connection.
 */
import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PYTHON_BOT, tarGzBuffer } from '../registry/fixtures.js';
import { openApiHarness, type ApiHarness } from './api-harness.js';

let h: ApiHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function listen(overrides: Parameters<typeof openApiHarness>[0] = {}): Promise<{ host: string; port: number }> {
  h = await openApiHarness(overrides);
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  return { host: '127.0.0.1', port: (h.app.server.address() as AddressInfo).port };
}

interface Outcome {
  readonly continued: boolean;
  readonly status: number;
  readonly body: string;
}

/** Sends the headers, and the body only once the server said "100 Continue". */
function postExpectingContinue(
  base: { host: string; port: number },
  path: string,
  body: Buffer,
  headers: Record<string, string>,
): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    let continued = false;
    const request = http.request({
      ...base,
      method: 'POST',
      path,
      headers: { ...headers, 'content-length': String(body.length), expect: '100-continue' },
    });
    request.on('continue', () => {
      continued = true;
      request.end(body);
    });
    request.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (t: string) => (text += t));
      res.on('end', () => resolve({ continued, status: res.statusCode ?? 0, body: text }));
    });
    request.on('error', reject);
    request.flushHeaders();
  });
}

describe('Expect: 100-continue', () => {
  it('a package declared larger than the limit is refused with 413 before its body is sent', async () => {
    const base = await listen();
    const outcome = await postExpectingContinue(base, '/v1/bots/big/package', Buffer.alloc(2 * 1024 * 1024), {
      'content-type': 'application/gzip',
    });
    expect(outcome.continued).toBe(false);
    expect(outcome.status).toBe(413);
    expect(JSON.parse(outcome.body).error.message).toContain(String(1024 * 1024));
    expect(await h!.keys()).toEqual([]);
  });

  it('a package within the limit gets 100 Continue and is stored', async () => {
    const base = await listen();
    const outcome = await postExpectingContinue(base, '/v1/bots/small/package', await tarGzBuffer(PYTHON_BOT), {
      'content-type': 'application/gzip',
    });
    expect(outcome.continued).toBe(true);
    expect(outcome.status, outcome.body).toBe(200);
    expect(JSON.parse(outcome.body).code.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('a JSON body declared larger than the JSON limit is refused with 413 before its body is sent', async () => {
    const base = await listen();
    const outcome = await postExpectingContinue(base, '/v1/bots/big/run', Buffer.alloc(128 * 1024, 32), {
      'content-type': 'application/json',
    });
    expect(outcome.continued).toBe(false);
    expect(outcome.status).toBe(413);
  });

  it('with a token, a request without it gets 401 and no 100 Continue; with it, 100 Continue', async () => {
    const base = await listen({ token: 'sesame' });
    const pkg = await tarGzBuffer(PYTHON_BOT);
    const refused = await postExpectingContinue(base, '/v1/bots/t/package', pkg, { 'content-type': 'application/gzip' });
    expect(refused).toMatchObject({ continued: false, status: 401 });
    const accepted = await postExpectingContinue(base, '/v1/bots/t/package', pkg, {
      'content-type': 'application/gzip',
      authorization: 'Bearer sesame',
    });
    expect(accepted).toMatchObject({ continued: true, status: 200 });
  });
});
