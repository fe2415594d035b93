import { describe, expect, it } from 'vitest';
import { buildContainerSpec, FINAL_SYNC_SECONDS, type ContainerSpecContext } from '../../../src/core/container-spec.js';
import { BOT_ENV_PREFIX, CONTAINER_PATHS, DAEMON_ENV } from '../../../src/domain/daemon-contract.js';
import { specHash } from '../../../src/domain/spec-hash.js';
import { makeBot } from './support/bots.js';

const access = {
  env: { [DAEMON_ENV.objects]: 'file:/var/berth/objects' },
  mounts: [
    { source: '/data/objects/code/a', target: '/var/berth/objects/code/a', readOnly: true },
    { source: '/data/objects/state/a', target: '/var/berth/objects/state/a', readOnly: false },
  ],
};

function ctx(over: Partial<ContainerSpecContext> = {}): ContainerSpecContext {
  return {
    name: 'berth-a',
    image: 'berth-bot:test',
    specHash: 'hash-1',
    graceSeconds: 30,
    networkMode: 'host',
    objectAccess: access,
    daemon: { debounceMs: 500, maxWaitMs: 5000, logIntervalMs: 2000 },
    ...over,
  };
}

describe('buildContainerSpec', () => {
  const bot = makeBot('a', {
    config: { symbol: 'ETH', n: 3 },
    env: { API_URL: 'https://example.test' },
    resources: { memoryMb: 256, cpus: 0.5, pids: 128 },
    flavor: 'the0',
  });

  it('names a live bot berth-<id>, restarts it always and carries its limits, grace, network and spec hash', () => {
    const spec = buildContainerSpec(bot, ctx());
    expect(spec).toMatchObject({
      name: 'berth-a',
      botId: 'a',
      kind: 'live',
      specHash: 'hash-1',
      image: 'berth-bot:test',
      restartPolicy: 'always',
      memoryMb: 256,
      cpus: 0.5,
      pids: 128,
      stopGraceSeconds: 30 + FINAL_SYNC_SECONDS,
      networkMode: 'host',
    });
    expect(spec.runId).toBeUndefined();
    expect(spec.command).toBeUndefined();
  });

  it('mounts exactly what the object store hands out', () => {
    expect(buildContainerSpec(bot, ctx()).mounts).toEqual(access.mounts);
  });

  it("gives the daemon its settings and the bot its identity, config and the user's env", () => {
    const env = buildContainerSpec(bot, ctx()).env;
    expect(env).toMatchObject({
      [DAEMON_ENV.botId]: 'a',
      [DAEMON_ENV.kind]: 'live',
      [DAEMON_ENV.runtime]: 'python3.11',
      [DAEMON_ENV.entrypoint]: 'main.py',
      [DAEMON_ENV.flavor]: 'the0',
      [DAEMON_ENV.codeKey]: bot.code.key,
      [DAEMON_ENV.codeSha256]: bot.code.sha256,
      [DAEMON_ENV.codeFormat]: 'tar.gz',
      [DAEMON_ENV.objects]: 'file:/var/berth/objects',
      [DAEMON_ENV.graceSeconds]: '30',
      [DAEMON_ENV.debounceMs]: '500',
      [DAEMON_ENV.maxWaitMs]: '5000',
      [DAEMON_ENV.logIntervalMs]: '2000',
      [DAEMON_ENV.botDir]: CONTAINER_PATHS.botDir,
      [DAEMON_ENV.stateDir]: CONTAINER_PATHS.stateDir,
      [DAEMON_ENV.workDir]: CONTAINER_PATHS.workDir,
      [DAEMON_ENV.runAs]: '10001:10001',
      [DAEMON_ENV.python]: CONTAINER_PATHS.python,
      [DAEMON_ENV.node]: CONTAINER_PATHS.node,
      BOT_ID: 'a',
      BOT_TYPE: 'realtime',
      [`${BOT_ENV_PREFIX}API_URL`]: 'https://example.test',
    });
    // Not under its own name: the container's environment is the daemon's too.
    expect(env.API_URL).toBeUndefined();
    expect(JSON.parse(env.BOT_CONFIG!)).toEqual({ symbol: 'ETH', n: 3 });
    expect(env[DAEMON_ENV.runId]).toBeUndefined();
  });

  it("never lets the user's env override what Berth sets", () => {
    // Validation refuses these names; a record written around it must still not win.
    const sneaky = { ...bot, env: { BOT_ID: 'evil', [DAEMON_ENV.runAs]: '0:0', [DAEMON_ENV.objects]: 'file:/' } };
    const env = buildContainerSpec(sneaky, ctx()).env;
    expect(env.BOT_ID).toBe('a');
    expect(env[DAEMON_ENV.runAs]).toBe('10001:10001');
    expect(env[DAEMON_ENV.objects]).toBe('file:/var/berth/objects');
  });

  it('describes a scheduled run: its name, its run id, run once', () => {
    const scheduled = makeBot('s', { kind: 'scheduled', schedule: { cron: '*/5 * * * *' } });
    const spec = buildContainerSpec(scheduled, ctx({ name: 'berth-s-r42', runId: 'r42' }));
    expect(spec).toMatchObject({ name: 'berth-s-r42', runId: 'r42', restartPolicy: 'no', kind: 'scheduled' });
    expect(spec.env).toMatchObject({ BOT_TYPE: 'scheduled', [DAEMON_ENV.runId]: 'r42', [DAEMON_ENV.kind]: 'scheduled' });
  });

  it('is deterministic for one bot, so the spec hash on the label matches the desired one', () => {
    const hash = specHash(bot, 'berth-bot:test');
    expect(buildContainerSpec(bot, ctx({ specHash: hash }))).toEqual(buildContainerSpec(bot, ctx({ specHash: hash })));
  });
});
