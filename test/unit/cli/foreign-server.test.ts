/**
 * The CLI pointed at something that is not a (working) Berth API — a web server answering
 * HTML, a server that breaks off its answer, a port that does not speak HTTP, a JSON
 * service of another kind — says so in one line and exits non-zero: no stack trace, no
 * TypeError, no silent exit. Each server is a throwaway on 127.0.0.1, closed after.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createRequire } from 'node:module';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliRun } from './support/run-cli.js';

const examples = fileURLToPath(new URL('../../../examples/', import.meta.url));
const CLIENT = fileURLToPath(new URL('../../../src/cli/client.ts', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

let dir: string;
const servers: Server[] = [];
const sockets = new Set<Socket>();

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-foreign-'));
});

afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  while (servers.length) {
    const server = servers.pop()!;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function listen(server: Server): Promise<string> {
  servers.push(server);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** An HTTP server answering every request with this status, content type and body. */
function httpServer(status: number, type: string, body: string, seen: string[] = []): Promise<string> {
  return listen(
    createHttpServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      req.resume();
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    }),
  );
}

/** A TCP server that does `onData` with whatever a client sends (or `onConnect` at once). */
function tcpServer(handle: (socket: Socket) => void): Promise<string> {
  return listen(
    createNetServer((socket) => {
      socket.on('error', () => undefined);
      handle(socket);
    }),
  );
}

type Run = CliRun;

const berth = (api: string, ...args: string[]): Promise<Run> => runCli(api, dir, args);

function expectOneClearLine(run: Run, pattern: RegExp): void {
  expect(run.code).not.toBe(0);
  const lines = run.err.trimEnd().split('\n');
  expect(lines, run.err).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(run.err).not.toMatch(/unexpected error|TypeError|\n\s+at /);
}

describe('the CLI against a server that is not a Berth API', () => {
  it('an HTML page with 200: did not answer like a Berth API', async () => {
    const api = await httpServer(200, 'text/html; charset=utf-8', '<!DOCTYPE html><html><head><title>Welcome</title></head><body>hi</body></html>');
    const ls = await berth(api, 'ls');
    expectOneClearLine(ls, new RegExp(`^berth: the server at ${api} did not answer like a Berth API \\(GET /v1/bots: HTTP 200 with text/html, not JSON\\)\\. .*--api`));
    expectOneClearLine(await berth(api, 'inspect', 'x'), /did not answer like a Berth API \(GET \/v1\/bots\/x: HTTP 200 with text\/html/);
    expectOneClearLine(await berth(api, 'logs', 'x', '-f'), /did not answer like a Berth API \(GET \/v1\/bots\/x\/logs: HTTP 200 with text\/html, not NDJSON\)/);
    expectOneClearLine(await berth(api, 'deploy', path.join(examples, 'node-counter')), /did not answer like a Berth API \(POST \/v1\/bots\/node-counter\/package/);
  });

  it('an HTML error page: its status and title, not its first line of markup', async () => {
    const api = await httpServer(404, 'text/html', '<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>');
    expectOneClearLine(await berth(api, 'ls'), /^berth: GET \/v1\/bots failed: HTTP 404 with an HTML page \("404 Not Found"\), not a Berth API answer$/);
  });

  it('JSON of another service: the fields a Berth answer has are missing', async () => {
    const api = await httpServer(200, 'application/json', '{"hello":"world"}');
    expectOneClearLine(await berth(api, 'ls'), /did not answer like a Berth API \(GET \/v1\/bots: HTTP 200 without "bots"\)/);
    expectOneClearLine(await berth(api, 'runs', 'x'), /without "runs"/);
    expectOneClearLine(await berth(api, 'logs', 'x'), /without "entries"/);
    const array = await httpServer(200, 'application/json', '[1,2]');
    expectOneClearLine(await berth(array, 'ls'), /HTTP 200 with JSON that is not an object/);
  });

  it('an answer broken off in the middle of the body', async () => {
    const api = await tcpServer((socket) =>
      socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"bots":[')),
    );
    expectOneClearLine(await berth(api, 'ls'), new RegExp(`^berth: the server at ${api} broke off its answer to GET /v1/bots \\(other side closed\\)`));
  });

  it('a port that does not speak HTTP (a banner, then garbage)', async () => {
    const api = await tcpServer((socket) => {
      socket.write('SSH-2.0-OpenSSH_9.6\r\n');
      socket.on('data', () => socket.write('\x00\x01protocol mismatch\r\n'));
    });
    expectOneClearLine(await berth(api, 'ls'), new RegExp(`^berth: the server at ${api} did not answer like a Berth API \\(GET /v1/bots: not HTTP — .*Expected HTTP/`));
  });

  it('a port that accepts and never answers: a time-out message, not a silent exit 13', async () => {
    // AbortSignal.timeout() does not keep the process alive; with a fetch that never
    // settles and nothing else pending, Node exited 13 without printing anything.
    const script = path.join(dir, 'never.mts');
    writeFileSync(
      script,
      `import { ApiClient } from ${JSON.stringify(pathToFileURL(CLIENT).href)};\n` +
        `const client = new ApiClient({ baseUrl: 'http://127.0.0.1:9', timeoutMs: 300,\n` +
        // Like fetch on a connection that holds nothing open: it settles only when aborted.
        `  fetch: (_url, init) => new Promise<Response>((_, reject) => init!.signal!.addEventListener('abort', () => reject(init!.signal!.reason))) });\n` +
        `try { await client.get('/v1/bots'); } catch (err) { process.stderr.write(String((err as Error).message) + '\\n'); process.exitCode = 1; }\n`,
    );
    const child = spawn(process.execPath, ['--import', TSX, script], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(killer);
    expect({ code, stderr: stderr.trim() }).toEqual({ code: 1, stderr: 'the Berth server at http://127.0.0.1:9 did not answer GET /v1/bots in time' });
  }, 30_000);
});

describe('--config nested too deeply', () => {
  it('20,000 levels in a file is refused before anything is sent, naming the option and the limit', async () => {
    const seen: string[] = [];
    const api = await httpServer(500, 'text/plain', 'should not be asked', seen);
    const file = path.join(dir, 'deep.json');
    writeFileSync(file, '{"a":'.repeat(20_000) + '1' + '}'.repeat(20_000));
    const run = await berth(api, 'deploy', path.join(examples, 'node-counter'), '--config', file);
    expect(run.code).toBe(2);
    expectOneClearLine(run, /^berth: --config: must not nest objects and arrays more than 32 levels deep/);
    expect(seen).toEqual([]);
  });

  it('a deep YAML file (whose parser recurses) gets the same message', async () => {
    const file = path.join(dir, 'deep.yaml');
    writeFileSync(file, Array.from({ length: 3_000 }, (_, i) => `${'  '.repeat(i)}a:\n`).join('') + `${'  '.repeat(3_000)}b: 1\n`);
    const run = await berth('http://127.0.0.1:9', 'deploy', path.join(examples, 'node-counter'), '--config', file);
    expect(run.code).toBe(2);
    expectOneClearLine(run, /^berth: --config: .*deep\.yaml must not nest objects and arrays more than 32 levels deep/);
  });

  it('more than 64 KiB is refused too', async () => {
    const run = await berth('http://127.0.0.1:9', 'deploy', path.join(examples, 'node-counter'), '--config', JSON.stringify({ big: 'x'.repeat(70_000) }));
    expect(run.code).toBe(2);
    expectOneClearLine(run, /^berth: --config: must be at most 65536 bytes \(64 KiB\) as JSON$/);
  });
});
