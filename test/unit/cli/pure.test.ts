import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { apiError } from '../../../src/cli/client.js';
import { counterOf } from '../../../src/cli/commands/demo.js';
import { deployRequest } from '../../../src/cli/commands/deploy.js';
import { buildMethod } from '../../../src/cli/commands/image.js';
import { settingFlags } from '../../../src/cli/commands/serve.js';
import { showLogs } from '../../../src/cli/commands/bots.js';
import { apiUrl, clientFor, type CliContext } from '../../../src/cli/context.js';
import { archiveTools } from '../../../src/cli/package-tools.js';
import { buildProgram } from '../../../src/cli/program.js';
import { CliError } from '../../../src/cli/errors.js';
import { reportError } from '../../../src/cli/report.js';
import { ConfigError } from '../../../src/config/errors.js';
import type { Bot, CodeRef } from '../../../src/domain/bot.js';
import { NotFoundError } from '../../../src/domain/errors.js';

describe('apiUrl', () => {
  it('takes --api, then BERTH_API, then BERTH_LISTEN, then the default', () => {
    expect(apiUrl({ api: 'http://a:1' }, { BERTH_API: 'http://b:2' })).toBe('http://a:1');
    expect(apiUrl({}, { BERTH_API: 'b:2', BERTH_LISTEN: '127.0.0.1:3' })).toBe('http://b:2');
    expect(apiUrl({}, { BERTH_LISTEN: '127.0.0.1:3' })).toBe('http://127.0.0.1:3');
    expect(apiUrl({}, { BERTH_LISTEN: '0.0.0.0:4' })).toBe('http://127.0.0.1:4');
    expect(apiUrl({}, { BERTH_LISTEN: ':5' })).toBe('http://127.0.0.1:5');
    expect(apiUrl({}, {})).toBe('http://127.0.0.1:7070');
  });
});

describe('apiError', () => {
  it('reads the API error body with its field issues', () => {
    const err = apiError(400, { error: { code: 'invalid', message: 'config: must be a JSON object', issues: [{ field: 'config', message: 'must be a JSON object' }] } }, 'PUT /v1/bots/x');
    expect(err.message).toBe('PUT /v1/bots/x failed: config: must be a JSON object');
    expect(err.issues).toEqual([{ field: 'config', message: 'must be a JSON object' }]);
  });
  it('hints at the token on 401, and copes with a body that is not JSON', () => {
    expect(apiError(401, { error: { message: 'missing or wrong bearer token' } }, 'GET /v1/bots').message).toMatch(/BERTH_API_TOKEN/);
    expect(apiError(502, 'Bad Gateway\n<html>', 'GET /v1/bots').message).toBe('GET /v1/bots failed: Bad Gateway');
    expect(apiError(500, undefined, 'GET /v1/bots').message).toBe('GET /v1/bots failed: HTTP 500');
  });
});

describe('reportError', () => {
  const report = (err: unknown) => {
    let text = '';
    const code = reportError(err, (t) => (text += t));
    return { code, text };
  };
  it('prints one line and the issues, with the error exit code', () => {
    expect(report(new CliError('boom', { issues: [{ field: 'env.X', message: 'bad' }] }))).toEqual({ code: 1, text: 'berth: boom\n  env.X: bad\n' });
    expect(report(new CliError('usage', { exitCode: 2 })).code).toBe(2);
    expect(report(new NotFoundError('bot "x" does not exist'))).toEqual({ code: 1, text: 'berth: bot "x" does not exist\n' });
  });
  it('lists every bad setting', () => {
    const err = new ConfigError([
      { setting: 'grace', source: { kind: 'env', name: 'BERTH_GRACE' }, value: '"x"', problem: 'is bad', accepted: 'seconds' },
      { setting: 'listen', source: { kind: 'flag', flag: '--listen' }, value: '"y"', problem: 'is bad', accepted: 'host:port' },
    ]);
    const { code, text } = report(err);
    expect(code).toBe(2);
    expect(text.split('\n')).toEqual([
      'berth: invalid settings:',
      '  setting "grace" from environment variable BERTH_GRACE: "x" is bad. Accepted: seconds',
      '  setting "listen" from flag --listen: "y" is bad. Accepted: host:port',
      '',
    ]);
  });
  it('leaves commander its own message and exit code', () => {
    expect(report(new CommanderError(1, 'commander.unknownCommand', 'unknown'))).toEqual({ code: 1, text: '' });
  });
});

describe('deployRequest', () => {
  const code: CodeRef = { key: 'code/a/x.tar.gz', sha256: 'x'.repeat(64), size: 1, format: 'tar.gz', version: 'v' };
  const existing = { config: { a: 1 }, env: { K: 'v' }, resources: { memoryMb: 256, cpus: 1, pids: 64 } } as unknown as Bot;

  it('sends only what was given for a new bot', () => {
    expect(deployRequest('a', code, {}, undefined)).toEqual({ id: 'a', code });
    expect(deployRequest('a', code, { name: 'A', runtime: 'py', entrypoint: 'b.py', config: '{}', env: ['X=1'], disabled: true }, undefined, () => ({ c: 2 }))).toEqual({
      id: 'a',
      code,
      name: 'A',
      runtime: 'py',
      entrypoint: 'b.py',
      config: { c: 2 },
      env: { X: '1' },
      enabled: false,
    });
  });

  it('keeps config, env and resources of an existing bot unless given again', () => {
    expect(deployRequest('a', code, {}, existing)).toEqual({ id: 'a', code, config: { a: 1 }, env: { K: 'v' }, resources: existing.resources });
    expect(deployRequest('a', code, { config: '{}', env: ['Y=2'] }, existing, () => ({}))).toMatchObject({ config: {}, env: { Y: '2' } });
  });

  it('--memory, --cpus and --pids set just those limits; the others are kept on a redeploy', () => {
    expect(deployRequest('a', code, { cpus: '0.5' }, undefined)).toEqual({ id: 'a', code, resources: { cpus: 0.5 } });
    expect(deployRequest('a', code, { memory: '1024', pids: '64' }, existing).resources).toEqual({ memoryMb: 1024, cpus: 1, pids: 64 });
    expect(() => deployRequest('a', code, { memory: '1g' }, undefined)).toThrow('--memory "1g": expected a whole number');
    expect(() => deployRequest('a', code, { cpus: 'two' }, undefined)).toThrow(/--cpus "two": expected a number/);
  });
});

describe('small helpers', () => {
  it('counterOf reads the counter examples and the0 ticks', () => {
    const base = { botId: 'x', exists: true, files: [] };
    expect(counterOf({ ...base, stateJson: { count: 3 } })).toBe(3);
    expect(counterOf({ ...base, keys: { ticks: 7 } })).toBe(7);
    expect(counterOf({ ...base, stateJson: { count: 'x' } })).toBeUndefined();
    expect(counterOf(undefined)).toBeUndefined();
  });

  it('settingFlags keeps only setting options given as strings', () => {
    expect(settingFlags({ dataDir: 'd', configFile: 'c.yaml', once: true, interval: '5s', bogus: 'x' })).toEqual({ dataDir: 'd', interval: '5s' });
  });

  it('buildMethod defaults to offline and refuses both', () => {
    expect(buildMethod({})).toBe('offline');
    expect(buildMethod({ dockerfile: true })).toBe('dockerfile');
    expect(() => buildMethod({ offline: true, dockerfile: true })).toThrow(/choose one/);
  });
});

describe('berth logs -f --tail 0', () => {
  it('asks the server for no past lines and prints the new ones', async () => {
    const urls: string[] = [];
    let out = '';
    const ctx: CliContext = {
      io: { out: (t) => void (out += t), err: () => undefined },
      env: { BERTH_API: 'http://127.0.0.1:9' },
      cwd: '/',
      now: () => new Date(),
      signal: new AbortController().signal,
      fetch: async (url) => {
        urls.push(String(url));
        return new Response('{"time":"2026-03-01T12:00:00.000Z","stream":"out","line":"new"}\n', { headers: { 'content-type': 'application/x-ndjson' } });
      },
    };
    await showLogs(ctx, clientFor(ctx, {}), 'bot', { tail: '0', follow: true });
    expect(new URL(urls[0]!).searchParams.get('tail')).toBe('0');
    expect(out).toBe('2026-03-01T12:00:00.000Z  new\n');
  });
});

describe('berth deploy --help', () => {
  it("says that --cpus above the host's CPU count is applied as the host's count (inspect shows the value asked for)", () => {
    const ctx: CliContext = { io: { out: () => undefined, err: () => undefined }, env: {}, cwd: '/', now: () => new Date(), signal: new AbortController().signal };
    const help = buildProgram(ctx, { tools: archiveTools }).commands.find((c) => c.name() === 'deploy')!.helpInformation({ error: false });
    expect(help.replace(/\s+/g, ' ')).toContain("on Docker a value above the host's CPU count is applied as the host's count");
  });
});
