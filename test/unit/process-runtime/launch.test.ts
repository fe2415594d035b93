/**
 * What a process-runtime container runs by default: the same bootstrap.sh as the image,
 * with the daemon's paths on the host, the spec's environment, and nothing of
 * `berth serve`'s own environment beyond what a process needs (PATH, HOME, locale).
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DAEMON_ENV } from '../../../src/domain/daemon-contract.js';
import { fileText, sandbox, shellSpec, uniqueName, type Sandbox } from './harness.js';

let sb: Sandbox;
beforeEach(() => {
  sb = sandbox();
});
afterEach(async () => {
  await sb.cleanup();
});

function parseEnv(text: string): Record<string, string> {
  return Object.fromEntries(text.split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

describe('ProcessRuntime launch', () => {
  it('runs <daemonDir>/bootstrap.sh with the spec env, host paths for the daemon, and no leaked host secrets', async () => {
    const daemonDir = path.join(sb.scratch, 'daemon');
    mkdirSync(daemonDir);
    const envFile = path.join(sb.scratch, 'env');
    const cwdFile = path.join(sb.scratch, 'cwd');
    writeFileSync(path.join(daemonDir, 'bootstrap.sh'), `pwd > ${cwdFile}\nenv -0 > ${envFile}\necho bootstrap-ran\n`);
    const rt = sb.runtime({ daemonDir, pythonPath: '/opt/python3.11', nodePath: '/opt/node' });
    const name = uniqueName();
    process.env.BERTH_SECRET_TEST_LEAK = 'must-not-leak';
    let c;
    try {
      const { command: _omitted, ...spec } = shellSpec(name, '', {
        restartPolicy: 'no',
        env: { [DAEMON_ENV.botId]: 'b1', USER_SETTING: 'v', [DAEMON_ENV.stateDir]: '/state' },
      });
      c = await rt.start(spec);
    } finally {
      delete process.env.BERTH_SECRET_TEST_LEAK;
    }
    expect(await rt.wait(c.id)).toBe(0);
    expect(await rt.tail(c.id, 5)).toEqual(['bootstrap-ran']);

    const dir = path.join(sb.dataDir, sb.instance, name);
    const env = parseEnv(fileText(envFile)!);
    expect(env).toMatchObject({
      [DAEMON_ENV.botId]: 'b1',
      USER_SETTING: 'v',
      [DAEMON_ENV.stateDir]: path.join(dir, 'state'),
      [DAEMON_ENV.botDir]: path.join(dir, 'bot'),
      [DAEMON_ENV.workDir]: path.join(dir, 'work'),
      [DAEMON_ENV.runAs]: '',
      [DAEMON_ENV.node]: '/opt/node',
      [DAEMON_ENV.python]: '/opt/python3.11',
      [DAEMON_ENV.script]: path.join(daemonDir, 'berth-daemon.cjs'),
      PATH: process.env.PATH,
    });
    expect(env.BERTH_SECRET_TEST_LEAK).toBeUndefined();
    expect(fileText(cwdFile)?.trim()).toBe(path.join(dir, 'bot'));
    for (const dirName of ['bot', 'state', 'work']) expect(statSync(path.join(dir, dirName)).isDirectory()).toBe(true);
    // The spec and the launch plan hold the bot's env, which may hold secrets.
    expect(statSync(path.join(dir, 'spec.json')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(dir, 'launch.json')).mode & 0o777).toBe(0o600);
  });

  it('refuses to start a bot when bootstrap.sh is missing, and leaves nothing behind', async () => {
    const rt = sb.runtime({ daemonDir: path.join(sb.scratch, 'no-daemon-here') });
    const name = uniqueName();
    const { command: _omitted, ...spec } = shellSpec(name, '');
    await expect(rt.start(spec)).rejects.toMatchObject({ code: 'unavailable', message: expect.stringContaining('npm run build') });
    expect(existsSync(path.join(sb.dataDir, sb.instance, name))).toBe(false);
    expect(await rt.list({})).toEqual([]);
  });

  it('reports a command that does not exist as exit code 127 with a reason in the output', async () => {
    const rt = sb.runtime();
    const c = await rt.start({ ...shellSpec(uniqueName(), ''), command: ['/nonexistent/berth-test-binary'], restartPolicy: 'no' });
    expect(await rt.wait(c.id)).toBe(127);
    expect((await rt.tail(c.id, 5)).join('\n')).toContain('cannot start');
  });
});
