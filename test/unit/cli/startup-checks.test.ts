/**
 * What `berth serve` checks before it opens or starts anything (src/server/preflight.ts):
 * an unusable data dir (or a directory derived from it) and a listen address someone else
 * holds are settings errors — one clear line, exit code 2, no stack trace — and never a
 * hang (Node's recursive mkdir loops forever under /proc), with nothing left half started.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { reportError } from '../../../src/cli/report.js';
import { ConfigError, loadConfig, type ServerConfig } from '../../../src/config/index.js';
import { silentAnnounce, startServer, type RunningServer, type ServerRole } from '../../../src/server/index.js';
import { directoryProblem, listenError, reserveListenAddress } from '../../../src/server/preflight.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI_MAIN = path.join(REPO_ROOT, 'src/cli/main.ts');
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const hasProc = existsSync('/proc/self');

let dir: string;
const blockers: Server[] = [];
const servers: RunningServer[] = [];

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-startup-'));
});

afterEach(async () => {
  while (servers.length) await servers.pop()!.stop();
  while (blockers.length) {
    const server = blockers.pop()!;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function config(flags: Record<string, string>, env: Record<string, string> = {}): ServerConfig {
  return loadConfig({ env, cwd: dir, flags: { runtime: 'process', listen: '127.0.0.1:0', logLevel: 'silent', network: 'none', ...flags } });
}

/** startServer's rejection, failing the test after `ms` instead of hanging. */
async function startFails(cfg: ServerConfig, role: ServerRole = 'serve', ms = 5_000): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`startServer neither failed nor started within ${ms} ms`)), ms);
  });
  try {
    const server = await Promise.race([startServer(cfg, { role, announce: silentAnnounce }), deadline]);
    servers.push(server);
    throw new Error('startServer started although it should have refused');
  } catch (err) {
    return err;
  } finally {
    clearTimeout(timer);
  }
}

function oneLine(err: unknown): { code: number; text: string } {
  let text = '';
  const code = reportError(err, (t) => (text += t));
  return { code, text };
}

async function occupiedPort(): Promise<number> {
  const server = createServer();
  blockers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** The CLI as a process (`node --import tsx src/cli/main.ts …`), killed by PID after `ms`. */
async function cli(args: string[], ms = 20_000): Promise<{ code: number | null; stderr: string; stdout: string; elapsedMs: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', TSX, CLI_MAIN, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), ms);
  try {
    const [code] = (await once(child, 'exit')) as [number | null];
    return { code, stderr, stdout, elapsedMs: Date.now() - started };
  } finally {
    clearTimeout(killer);
  }
}

describe('an unusable data directory', () => {
  it.skipIf(!hasProc)('under /proc is refused at once (no endless mkdir loop), naming the setting, path and reason', async () => {
    const target = `/proc/berth-forbidden-${process.pid}`;
    const err = await startFails(config({ dataDir: target }));
    expect(err).toBeInstanceOf(ConfigError);
    const issues = (err as ConfigError).issues;
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ setting: 'dataDir', source: { kind: 'flag', flag: '--data-dir' } });
    expect(issues[0]!.problem).toContain(target);
    expect(issues[0]!.problem).toMatch(/cannot be created.*ENOENT.*--data-dir \(or BERTH_DATA_DIR\)/);
  });

  it('below a file: names the file that is in the way, whatever the source', async () => {
    const file = path.join(dir, 'a-file');
    writeFileSync(file, 'x');
    const err = await startFails(config({}, { BERTH_DATA_DIR: path.join(file, 'x') }));
    expect(err).toBeInstanceOf(ConfigError);
    const [issue] = (err as ConfigError).issues;
    expect(issue).toMatchObject({ setting: 'dataDir', source: { kind: 'env', name: 'BERTH_DATA_DIR' } });
    expect(issue!.problem).toContain(`${file} is a file, not a directory`);
    const { code, text } = oneLine(err);
    expect(code).toBe(2);
    expect(text.trimEnd().split('\n')).toHaveLength(1);
    expect(text).not.toMatch(/unexpected error|\n\s+at /);
  });

  it('that is a file itself, or whose uploads directory is a file', async () => {
    const file = path.join(dir, 'plain-file');
    writeFileSync(file, 'x');
    const asFile = await startFails(config({ dataDir: file }));
    expect((asFile as ConfigError).issues[0]!.problem).toMatch(/the data directory .*plain-file is a file, not a directory/);

    const data = path.join(dir, 'with-upload-file');
    mkdirSync(data);
    writeFileSync(path.join(data, 'uploads'), 'x');
    const uploads = await startFails(config({ dataDir: data }), 'api');
    expect((uploads as ConfigError).issues).toEqual([
      expect.objectContaining({ setting: 'dataDir', problem: expect.stringMatching(/upload directory .*uploads is a file/) }),
    ]);
    // Nothing was opened: no SQLite file appeared.
    expect(existsSync(path.join(data, 'berth.db'))).toBe(false);
  });

  it.skipIf(!hasProc)('an explicit objects directory is blamed on the objects setting', async () => {
    const err = await startFails(config({ dataDir: path.join(dir, 'ok-data'), objects: `file:/proc/berth-objects-${process.pid}` }));
    expect((err as ConfigError).issues).toEqual([
      expect.objectContaining({ setting: 'objects', source: { kind: 'flag', flag: '--objects' }, problem: expect.stringContaining('--objects (or BERTH_OBJECTS)') }),
    ]);
  });

  it('directoryProblem creates what is missing and accepts an existing writable directory', async () => {
    const nested = path.join(dir, 'new', 'deeper', 'still');
    expect(await directoryProblem(nested)).toBeUndefined();
    expect(existsSync(nested)).toBe(true);
    expect(await directoryProblem(nested)).toBeUndefined();
  });

  it.skipIf(!hasProc)('`berth serve --data-dir /proc/…` exits with one line and code 2 instead of spinning', async () => {
    const run = await cli(['serve', '--network', 'none', '--runtime', 'process', '--listen', '127.0.0.1:0', '--data-dir', '/proc/forbidden']);
    expect(run.code).toBe(2);
    expect(run.elapsedMs).toBeLessThan(15_000);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^berth: setting "dataDir" from flag --data-dir: "\/proc\/forbidden" cannot be used: .*\/proc\/forbidden cannot be created/);
    expect(run.stderr).not.toMatch(/unexpected error|\n\s+at /);
  }, 30_000);
});

describe('a listen address that is taken', () => {
  it('is a settings error naming the address and the setting, before anything opens', async () => {
    const port = await occupiedPort();
    const data = path.join(dir, 'port-taken');
    const err = await startFails(config({ dataDir: data, listen: `127.0.0.1:${port}` }));
    expect(err).toBeInstanceOf(ConfigError);
    const [issue] = (err as ConfigError).issues;
    expect(issue).toMatchObject({ setting: 'listen', source: { kind: 'flag', flag: '--listen' }, value: `"127.0.0.1:${port}"` });
    expect(issue!.problem).toMatch(/already in use: something else listens there \(maybe another `berth serve` or `npm run demo`\).*--listen \(or BERTH_LISTEN\)/);
    // Nothing was started or created: no data dir, so no store, objects or process runtime.
    expect(existsSync(data)).toBe(false);
    const { code, text } = oneLine(err);
    expect(code).toBe(2);
    expect(text).toMatch(new RegExp(`^berth: setting "listen" from flag --listen: "127\\.0\\.0\\.1:${port}" is already in use`));
    expect(text.trimEnd().split('\n')).toHaveLength(1);
  });

  it('the env var is named when the address came from it; bot-runner does not listen and does not care', async () => {
    const port = await occupiedPort();
    const err = await startFails(loadConfig({ env: { BERTH_LISTEN: String(port) }, cwd: dir, flags: { runtime: 'process', logLevel: 'silent', dataDir: path.join(dir, 'env-port') } }), 'api');
    expect((err as ConfigError).issues[0]).toMatchObject({ setting: 'listen', source: { kind: 'env', name: 'BERTH_LISTEN' } });

    const runner = await startServer(config({ dataDir: path.join(dir, 'runner'), listen: `127.0.0.1:${port}` }), { role: 'bot-runner', announce: silentAnnounce });
    servers.push(runner);
    expect(runner.url).toBeUndefined();
  });

  it('the address is held from start-up until the API listens; a connection meanwhile is cut off at once', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const held = await reserveListenAddress(config({ listen: `127.0.0.1:${port}` }));
    try {
      await expect(reserveListenAddress(config({ listen: `127.0.0.1:${port}` }))).rejects.toBeInstanceOf(ConfigError);
      const socket = createConnection(port, '127.0.0.1');
      socket.on('error', () => undefined);
      await once(socket, 'close');
    } finally {
      await held.release();
      await held.release();
    }
    const again = await reserveListenAddress(config({ listen: `127.0.0.1:${port}` }));
    await again.release();
  });

  it('an address taken in the moment before the API listens gets the same message', () => {
    const err = listenError(config({ listen: '127.0.0.1:7070' }), Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:7070'), { code: 'EADDRINUSE' }));
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/"127\.0\.0\.1:7070" is already in use/);
    const other = new Error('not a listen problem');
    expect(listenError(config({}), other)).toBe(other);
  });

  it('`berth serve` on a taken port prints one line and exits 2', async () => {
    const port = await occupiedPort();
    const run = await cli(['serve', '--network', 'none', '--runtime', 'process', '--listen', `127.0.0.1:${port}`, '--data-dir', path.join(dir, 'cli-port')]);
    expect(run.code).toBe(2);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`"127.0.0.1:${port}" is already in use`);
    expect(lines[0]).toContain('--listen (or BERTH_LISTEN)');
    expect(existsSync(path.join(dir, 'cli-port'))).toBe(false);
  }, 30_000);
});
