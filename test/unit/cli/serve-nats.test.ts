/**
 * The composition root with a NATS event bus (a real nats-server): a service whose NATS is
 * not up yet starts anyway, says so, reports the bus down in /v1/health and recovers by
 * itself when the server appears; a bad NATS URL is a configuration error naming its source.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../../src/cli/client.js';
import { deploy } from '../../../src/cli/commands/deploy.js';
import type { CliContext } from '../../../src/cli/context.js';
import { archiveTools } from '../../../src/cli/package-tools.js';
import { ConfigError, loadConfig } from '../../../src/config/index.js';
import { startServer, type RunningServer } from '../../../src/server/index.js';
import { freePort, natsSkipReason, startNatsServer, stopAllNatsServers, type NatsServer } from '../../support/nats-server.js';
import { waitFor } from '../../support/wait.js';

const skip = natsSkipReason();
const examples = fileURLToPath(new URL('../../../examples/', import.meta.url));
let dir: string;
const servers: RunningServer[] = [];
const nats: NatsServer[] = [];

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-serve-nats-'));
});

afterAll(async () => {
  for (const s of servers.splice(0)) await s.stop();
  for (const n of nats.splice(0)) await n.dispose();
  await stopAllNatsServers();
  rmSync(dir, { recursive: true, force: true });
});

interface Health {
  ok: boolean;
  dependencies: Array<{ name: string; ok: boolean; detail?: string }>;
}

async function events(url: string): Promise<{ ok: boolean; detail?: string } | undefined> {
  const body = (await (await fetch(`${url}/v1/health`)).json()) as Health;
  return body.dependencies.find((d) => d.name === 'events');
}

describe.skipIf(skip !== undefined)(`berth api with --events nats://…${skip ? ` (skipped: ${skip})` : ''}`, { timeout: 60_000 }, () => {
  it('starts while NATS is down (with a warning), reports events down, and is healthy once NATS appears', async () => {
    const port = await freePort();
    const lines: string[] = [];
    const config = loadConfig({ env: {}, cwd: dir, flags: { listen: '127.0.0.1:0', logLevel: 'silent', events: `nats://127.0.0.1:${port}` } });
    const server = await startServer(config, { role: 'api', announce: (l) => lines.push(l) });
    servers.push(server);
    expect(lines.join('\n')).toMatch(/WARNING: events unavailable: NATS at nats:\/\/127\.0\.0\.1:\d+ did not answer .*seen at the next full reconcile/);
    expect(await events(server.url!)).toMatchObject({ ok: false, detail: expect.stringMatching(/not connected to NATS/) });
    nats.push(await startNatsServer({ port }));
    await waitFor('events healthy', async () => (await events(server.url!))?.ok === true, { timeoutMs: 20_000, intervalMs: 100 });
  });

  it('berth serve --events nats://… acts on a deploy through the bus (its own events come back to it) and removes on rm', async () => {
    const server = await startNatsServer();
    nats.push(server);
    const instance = `serve-nats-${process.pid}`;
    const config = loadConfig({
      env: {},
      cwd: dir,
      // An hour-long timer: only the event can start the bot.
      flags: { listen: '127.0.0.1:0', logLevel: 'silent', events: server.url, runtime: 'process', instance, interval: '1h', grace: '5' },
    });
    const berth = await startServer(config, { role: 'serve', announce: () => undefined });
    servers.push(berth);
    const client = new ApiClient({ baseUrl: berth.url! });
    const ctx: CliContext = { io: { out: () => undefined, err: () => undefined }, env: {}, cwd: dir, now: () => new Date(), signal: new AbortController().signal };
    try {
      await deploy(ctx, client, archiveTools, path.join(examples, 'node-counter'), { id: 'natsbot' });
      await waitFor('the bot running', async () => (await berth.containers!.list({ botId: 'natsbot' })).some((c) => c.state === 'running'));
      expect(berth.botService?.lastPass?.botsActedOn ?? 0).toBe(0);
      await client.request('DELETE', '/v1/bots/natsbot');
      await waitFor('the bot removed', async () => (await berth.containers!.list({ botId: 'natsbot' })).length === 0);
    } finally {
      for (const c of await berth.containers!.list({})) await berth.containers!.remove(c.id);
    }
  });

  it('a NATS URL the adapter refuses is a ConfigError naming the setting and where it came from', async () => {
    const config = loadConfig({ env: { BERTH_EVENTS: 'nats://host/with/path' }, cwd: dir, flags: { listen: '127.0.0.1:0', logLevel: 'silent' } });
    const err = await startServer(config, { role: 'api', announce: () => undefined }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues[0]).toMatchObject({ setting: 'events', source: { kind: 'env', name: 'BERTH_EVENTS' } });
  });
});
