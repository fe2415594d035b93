/**
 * The composition root in-process on the process runtime (real SQLite, filesystem objects,
 * local processes): bots run, survive a stop of the server, are adopted by the next one,
 * and go away on rm. Needs the built daemon (`npm run build`; `npm test` builds first).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProcessRuntime } from '../../../src/adapters/runtime/process/process-runtime.js';
import { ApiClient } from '../../../src/cli/client.js';
import { deploy } from '../../../src/cli/commands/deploy.js';
import type { CliContext } from '../../../src/cli/context.js';
import { archiveTools } from '../../../src/cli/package-tools.js';
import { ConfigError, loadConfig, type ServerConfig } from '../../../src/config/index.js';
import type { BotView, StateSnapshot } from '../../../src/core/queries/index.js';
import { startServer, type RunningServer } from '../../../src/server/index.js';
import { requireDocker } from '../../support/image.js';
import { waitFor } from '../../support/wait.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const examples = path.join(root, 'examples');
const instance = `test-serve-${randomBytes(4).toString('hex')}`;
let dir: string;
const servers: RunningServer[] = [];

function config(extra: Record<string, string> = {}, env: Record<string, string> = {}): ServerConfig {
  return loadConfig({
    env,
    cwd: dir,
    flags: { runtime: 'process', listen: '127.0.0.1:0', logLevel: 'silent', instance, interval: '2s', grace: '5', ...extra },
  });
}

async function start(cfg: ServerConfig, announce: (line: string) => void = () => undefined): Promise<RunningServer> {
  const server = await startServer(cfg, { announce });
  servers.push(server);
  return server;
}

function cliContext(): CliContext {
  return { io: { out: () => undefined, err: () => undefined }, env: {}, cwd: dir, now: () => new Date(), signal: new AbortController().signal };
}

beforeAll(() => {
  if (!existsSync(path.join(root, 'dist/daemon/berth-daemon.cjs'))) throw new Error('dist/daemon is missing: run `npm run build` first');
  dir = mkdtempSync(path.join(tmpdir(), 'berth-serve-'));
});

afterEach(async () => {
  while (servers.length) await servers.pop()!.stop();
});

afterAll(async () => {
  // Whatever a failed test left running: remove every process of this test's instance.
  if (!dir) return;
  const runtime = new ProcessRuntime({ dataDir: path.join(dir, '.berth', 'processes'), instance });
  for (const c of await runtime.list({})) await runtime.remove(c.id);
  await runtime.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('startServer on the process runtime', () => {
  it('runs a deployed bot, leaves it running when stopped, adopts it when started again, removes it on rm', async () => {
    const first = await start(config());
    expect(first.runtime).toBe('process');
    const client = new ApiClient({ baseUrl: first.url! });
    await deploy(cliContext(), client, archiveTools, path.join(examples, 'node-counter'), { id: 'counter' });

    const count = async (c: ApiClient) => {
      const snapshot = await c.get<StateSnapshot>('/v1/bots/counter/state');
      return (snapshot.stateJson as { count?: number } | undefined)?.count;
    };
    await waitFor('the bot to run and save its counter', async () => {
      const view = await client.get<BotView>('/v1/bots/counter');
      return view.state === 'running' && ((await count(client)) ?? 0) > 0;
    });
    const [container] = await first.containers!.list({ botId: 'counter' });
    expect(container?.state).toBe('running');

    await first.stop();
    const outside = new ProcessRuntime({ dataDir: path.join(dir, '.berth', 'processes'), instance });
    try {
      const afterStop = await outside.list({ botId: 'counter' });
      expect(afterStop.map((c) => [c.id, c.state])).toEqual([[container!.id, 'running']]);
    } finally {
      await outside.close();
    }

    const second = await start(config());
    const client2 = new ApiClient({ baseUrl: second.url! });
    const before = (await count(client2)) ?? 0;
    await waitFor('the counter to keep growing under the new server', async () => ((await count(client2)) ?? 0) > before);
    const adopted = await second.containers!.list({ botId: 'counter' });
    expect(adopted.map((c) => c.id)).toEqual([container!.id]);

    await client2.request('DELETE', '/v1/bots/counter');
    await waitFor('the bot process to be removed', async () => (await second.containers!.list({ botId: 'counter' })).length === 0);
  });

  it('stop is idempotent and leaves the API closed', async () => {
    const server = await start(config());
    const url = server.url!;
    await Promise.all([server.stop(), server.stop()]);
    await expect(fetch(`${url}/v1/health`)).rejects.toThrow();
  });

  it('reports health of the runtime side through the API', async () => {
    const server = await start(config());
    const health = await new ApiClient({ baseUrl: server.url! }).request<{ ok: boolean; runtime: string; dependencies: { name: string; ok: boolean }[] }>('GET', '/v1/health', { allow: [503] });
    expect(health.body.runtime).toBe('process');
    expect(health.body.dependencies.map((d) => d.name)).toEqual(expect.arrayContaining(['objects', 'store']));
  });
});

describe('runtime selection', () => {
  const savedDockerHost = process.env.DOCKER_HOST;
  afterEach(() => {
    if (savedDockerHost === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = savedDockerHost;
  });

  it('auto falls back to processes when Docker does not answer, with a warning that says why', async () => {
    process.env.DOCKER_HOST = `unix://${path.join(dir, 'no-docker.sock')}`;
    const lines: string[] = [];
    const server = await start(config({ runtime: 'auto' }), (line) => lines.push(line));
    expect(server.runtime).toBe('process');
    const warning = lines.find((l) => l.startsWith('WARNING'));
    expect(warning).toMatch(/WITHOUT container isolation/);
    expect(warning).toContain('no-docker.sock');
    expect(lines).toContainEqual(expect.stringMatching(/^runtime: process/));
  });

  it('a Docker network that does not exist is refused at start-up, naming the setting', async (ctx) => {
    await requireDocker(ctx);
    const network = `berth-no-such-network-${randomBytes(3).toString('hex')}`;
    const err = await start(config({ runtime: 'docker', network })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues[0]).toMatchObject({ setting: 'network', source: { kind: 'flag', flag: '--network' } });
    expect((err as ConfigError).message).toMatch(/is not a network of this Docker Engine.*--network none/);
  });

  it('an explicit docker runtime that does not answer is an error, not a fallback', async () => {
    process.env.DOCKER_HOST = `unix://${path.join(dir, 'no-docker.sock')}`;
    await expect(start(config({ runtime: 'docker' }))).rejects.toThrow(/did not answer.*--runtime process/);
  });
});

describe('settings the adapters refuse', () => {
  it('become a ConfigError naming the setting and its source', async () => {
    const err = await start(config({}, { BERTH_STORE: 'sqlite://relative.db' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues[0]).toMatchObject({ setting: 'store', source: { kind: 'env', name: 'BERTH_STORE' } });
  });
});
