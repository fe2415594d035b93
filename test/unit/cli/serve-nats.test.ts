/**
 * The composition root with a NATS event bus (a real nats-server): a service whose NATS is
 * not up yet starts anyway, says so, reports the bus down in /v1/health and recovers by
 * itself when the server appears; a bad NATS URL is a configuration error naming its source.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config/index.js';
import { startServer, type RunningServer } from '../../../src/server/index.js';
import { freePort, natsSkipReason, startNatsServer, stopAllNatsServers, type NatsServer } from '../../support/nats-server.js';
import { waitFor } from '../../support/wait.js';

const skip = natsSkipReason();
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

  it('a NATS URL the adapter refuses is a ConfigError naming the setting and where it came from', async () => {
    const config = loadConfig({ env: { BERTH_EVENTS: 'nats://host/with/path' }, cwd: dir, flags: { listen: '127.0.0.1:0', logLevel: 'silent' } });
    const err = await startServer(config, { role: 'api', announce: () => undefined }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues[0]).toMatchObject({ setting: 'events', source: { kind: 'env', name: 'BERTH_EVENTS' } });
  });
});
