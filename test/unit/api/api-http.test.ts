/**
 * The API on a real listener (127.0.0.1, random port): streaming behaviour that inject
 * cannot show — a followed log over a chunked response that ends when the client goes
 * away, and an oversized upload answered with 413 before the client finishes sending.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatLogChunk } from '../../../src/domain/logs.js';
import { objectKeys } from '../../../src/domain/object-keys.js';
import { waitFor } from '../../support/wait.js';
import { PYTHON_BOT, tarGzBuffer } from '../registry/fixtures.js';
import { openApiHarness, type ApiHarness } from './api-harness.js';

let h: ApiHarness;
let base: { host: string; port: number };
beforeEach(async () => {
  h = await openApiHarness({ followKeepAliveMs: 60_000 });
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  const address = h.app.server.address() as AddressInfo;
  base = { host: '127.0.0.1', port: address.port };
});
afterEach(async () => {
  await h.close();
});

const ID = 'follow-bot';

async function deploy(): Promise<void> {
  const upload = await h.app.inject({
    method: 'POST',
    url: `/v1/bots/${ID}/package`,
    headers: { 'content-type': 'application/gzip' },
    payload: await tarGzBuffer(PYTHON_BOT),
  });
  expect(upload.statusCode, upload.body).toBe(200);
  const res = await h.app.inject({ method: 'PUT', url: `/v1/bots/${ID}`, payload: { code: upload.json().code } });
  expect(res.statusCode, res.body).toBe(201);
}

async function writeChunk(seq: number, lines: string[]): Promise<void> {
  const now = Date.now();
  const entries = lines.map((line) => ({ time: new Date(now).toISOString(), stream: 'out' as const, line }));
  await h.objects.put(objectKeys.logChunk(ID, now, seq), Buffer.from(formatLogChunk(entries)));
}

describe('over a real connection', () => {
  it('follow streams NDJSON: the existing lines, then new ones, and stops when the client disconnects', async () => {
    await deploy();
    await writeChunk(0, ['one', 'two']);
    const received: string[] = [];
    let contentType: string | undefined;
    const request = http.get({ ...base, path: `/v1/bots/${ID}/logs?follow=1` }, (res) => {
      contentType = res.headers['content-type'];
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        buffered += text;
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) received.push((JSON.parse(line) as { line: string }).line);
      });
    });
    request.on('error', () => undefined);
    await waitFor('the existing lines', () => received.length === 2);
    expect(contentType).toContain('application/x-ndjson');
    await writeChunk(1, ['three']);
    await waitFor('the new line', () => received.length === 3);
    expect(received).toEqual(['one', 'two', 'three']);

    request.destroy();
    // The server notices and ends its follow loop: closing the app then finds no open response.
    await waitFor('the server to drop the connection', async () => {
      const count = await new Promise<number>((resolve) => h.app.server.getConnections((_e, n) => resolve(n)));
      return count === 0;
    });
  });

  it('an oversized upload gets a 413 naming the limit before the client has sent everything', async () => {
    const limit = 1024 * 1024;
    const result = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      let answered = false;
      const request = http.request(
        { ...base, method: 'POST', path: `/v1/bots/${ID}/package`, headers: { 'content-type': 'application/gzip', 'transfer-encoding': 'chunked' } },
        (res) => {
          answered = true;
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (t: string) => (body += t));
          // The server closes the connection after its answer; the body may end with a reset.
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          res.on('error', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      // Writes after the answer fail (EPIPE/ECONNRESET) by design: only an error before it counts.
      request.on('error', (err) => {
        if (!answered) reject(err);
      });
      // Far more than the limit, sent as it drains; the answer arrives long before the end.
      const chunk = Buffer.alloc(64 * 1024, 7);
      let sent = 0;
      const pump = () => {
        while (!answered && sent < 64 * limit && !request.destroyed) {
          sent += chunk.length;
          if (!request.write(chunk)) return void request.once('drain', pump);
        }
        if (!answered) request.end();
      };
      pump();
    });
    expect(result.status).toBe(413);
    expect(JSON.parse(result.body).error.message).toContain(String(limit));
    expect(await h.keys()).toEqual([]);
  });
});
