import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type ConfigIssue } from '../../../src/config/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-config-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

function issuesOf(fn: () => unknown): ConfigIssue[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).issues];
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig defaults', () => {
  it('uses embedded defaults under ./.berth resolved against the working directory', () => {
    const c = loadConfig({ env: {}, cwd: dir });
    expect(c.dataDir).toBe(path.join(dir, '.berth'));
    expect(c.store).toBe(`sqlite:${path.join(dir, '.berth', 'berth.db')}`);
    expect(c.objects).toBe(`file:${path.join(dir, '.berth', 'objects')}`);
    expect(c.events).toBe('memory:');
    expect(c.runtime).toBe('auto');
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 7070 });
    expect(c.intervalMs).toBe(30_000);
    expect(c.logRetentionDays).toBe(30);
    expect(c.graceSeconds).toBe(30);
    expect(c.network).toBe('bridge');
    expect(c.instance).toBe('default');
    expect(c.logLevel).toBe('info');
    expect(c.apiToken).toBeUndefined();
    expect(c.image).toBeUndefined();
    expect(c.sources.store).toEqual({ kind: 'default' });
  });

  it('derives store and objects from a data dir given by any source', () => {
    const c = loadConfig({ env: { BERTH_DATA_DIR: 'var/b' }, cwd: dir });
    expect(c.dataDir).toBe(path.join(dir, 'var/b'));
    expect(c.store).toBe(`sqlite:${path.join(dir, 'var/b/berth.db')}`);
    expect(c.objects).toBe(`file:${path.join(dir, 'var/b/objects')}`);
  });

  it('lets callers replace the built-in defaults (berth demo)', () => {
    const c = loadConfig({ env: {}, cwd: dir, defaults: { dataDir: '.berth/demo', network: 'none' } });
    expect(c.dataDir).toBe(path.join(dir, '.berth/demo'));
    expect(c.network).toBe('none');
  });
});

describe('loadConfig precedence: default < file < env < flag', () => {
  it('takes each setting from the highest source that gives it, and records the source', () => {
    const cfg = file('berth.yaml', 'interval: 10s\ngrace: 5\nnetwork: host\ninstance: from-file\n');
    const c = loadConfig({
      cwd: dir,
      configFile: cfg,
      env: { BERTH_GRACE: '7', BERTH_NETWORK: 'none' },
      flags: { network: 'host' },
    });
    expect(c.intervalMs).toBe(10_000);
    expect(c.sources.interval).toEqual({ kind: 'file', path: cfg, key: 'interval' });
    expect(c.graceSeconds).toBe(7);
    expect(c.sources.grace).toEqual({ kind: 'env', name: 'BERTH_GRACE' });
    expect(c.network).toBe('host');
    expect(c.sources.network).toEqual({ kind: 'flag', flag: '--network' });
    expect(c.instance).toBe('from-file');
    expect(c.configFile).toBe(cfg);
  });

  it('finds the config file through BERTH_CONFIG_FILE, and the flag wins over it', () => {
    const a = file('a.yaml', 'instance: a\n');
    const b = file('b.yaml', 'instance: b\n');
    expect(loadConfig({ cwd: dir, env: { BERTH_CONFIG_FILE: a } }).instance).toBe('a');
    expect(loadConfig({ cwd: dir, env: { BERTH_CONFIG_FILE: a }, configFile: b }).instance).toBe('b');
  });

  it('treats an empty environment variable as unset', () => {
    expect(loadConfig({ cwd: dir, env: { BERTH_RUNTIME: '' } }).runtime).toBe('auto');
  });

  it('reads every documented environment variable', () => {
    const c = loadConfig({
      cwd: dir,
      env: {
        BERTH_STORE: 'sqlite:x.db',
        BERTH_OBJECTS: 'file:objs',
        BERTH_EVENTS: 'memory:',
        BERTH_RUNTIME: 'process',
        BERTH_LISTEN: '127.0.0.1:0',
        BERTH_API_TOKEN: 'a-long-enough-secret',
        BERTH_INTERVAL: '2m',
        BERTH_LOG_RETENTION: '7d',
        BERTH_GRACE: '45s',
        BERTH_NETWORK: 'none',
        BERTH_INSTANCE: 'ci-1',
        BERTH_IMAGE: 'berth-bot:test',
        BERTH_LOG_LEVEL: 'debug',
        BERTH_PYTHON: '/usr/bin/python3.11',
        BERTH_NODE: '/usr/bin/node',
      },
    });
    expect(c).toMatchObject({
      store: `sqlite:${path.join(dir, 'x.db')}`,
      objects: `file:${path.join(dir, 'objs')}`,
      runtime: 'process',
      listen: { host: '127.0.0.1', port: 0 },
      apiToken: 'a-long-enough-secret',
      intervalMs: 120_000,
      logRetentionDays: 7,
      graceSeconds: 45,
      network: 'none',
      instance: 'ci-1',
      image: 'berth-bot:test',
      logLevel: 'debug',
      python: '/usr/bin/python3.11',
      node: '/usr/bin/node',
    });
  });

  it('log retention: days (with or without d), or forever; anything else names the accepted forms', () => {
    expect(loadConfig({ cwd: dir, env: {}, flags: { logRetention: '90' } }).logRetentionDays).toBe(90);
    expect(loadConfig({ cwd: dir, env: {}, flags: { logRetention: 'Forever' } }).logRetentionDays).toBe('forever');
    for (const bad of ['0', '12h', '1.5d', 'never']) {
      const [issue] = issuesOf(() => loadConfig({ cwd: dir, env: {}, flags: { logRetention: bad } }));
      expect(issue).toMatchObject({ setting: 'logRetention', source: { kind: 'flag', flag: '--log-retention' } });
      expect(issue!.accepted).toContain('"forever"');
    }
  });

  it('keeps remote URLs and absolute embedded URLs as given', () => {
    const c = loadConfig({ cwd: dir, env: {}, flags: { store: 'mongodb://db:27017/berth', objects: 'file:///srv/objects' } });
    expect(c.store).toBe('mongodb://db:27017/berth');
    expect(c.objects).toBe('file:///srv/objects');
  });
});

describe('loadConfig errors name the setting, the source and the accepted forms', () => {
  it('a bad flag', () => {
    const [issue, ...rest] = issuesOf(() => loadConfig({ cwd: dir, env: {}, flags: { interval: 'often' } }));
    expect(rest).toEqual([]);
    expect(issue).toMatchObject({ setting: 'interval', source: { kind: 'flag', flag: '--interval' }, value: '"often"' });
    expect(issue!.accepted).toMatch(/30s/);
  });

  it('a bad environment variable', () => {
    const err = (() => {
      try {
        loadConfig({ cwd: dir, env: { BERTH_RUNTIME: 'kvm' } });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('no error');
    })();
    expect(err.message).toContain('setting "runtime" from environment variable BERTH_RUNTIME: "kvm"');
    expect(err.message).toContain('Accepted: auto, docker, process');
  });

  it('a bad file value names the file and key', () => {
    const cfg = file('c.yaml', 'grace: 2.5\n');
    const [issue] = issuesOf(() => loadConfig({ cwd: dir, env: {}, configFile: cfg }));
    expect(issue).toMatchObject({ setting: 'grace', source: { kind: 'file', path: cfg, key: 'grace' } });
  });

  it('reports every bad setting at once', () => {
    const issues = issuesOf(() =>
      loadConfig({ cwd: dir, env: { BERTH_STORE: 'postgres://x', BERTH_EVENTS: 'kafka://y' }, flags: { listen: 'nowhere' } }),
    );
    expect(issues.map((i) => i.setting).sort()).toEqual(['events', 'listen', 'store']);
  });

  it.each([
    ['interval', '0s'],
    ['interval', '2h'],
    ['grace', '-1'],
    ['grace', '3601'],
    ['listen', '127.0.0.1:99999'],
    ['listen', '::1:7070'],
    ['instance', '-bad'],
    ['instance', 'x'.repeat(64)],
    ['network', 'a b'],
    ['image', 'Not An Image'],
    ['logLevel', 'loud'],
    ['objects', 'ftp://x'],
    ['apiToken', 'short'],
    ['apiToken', 'contains a space in it!!'],
  ] as const)('%s = %j is refused', (key, value) => {
    const [issue] = issuesOf(() => loadConfig({ cwd: dir, env: {}, flags: { [key]: value } }));
    expect(issue!.setting).toBe(key);
    expect(issue!.accepted.length).toBeGreaterThan(0);
  });

  it('hides the value of the API token', () => {
    const [issue] = issuesOf(() => loadConfig({ cwd: dir, env: { BERTH_API_TOKEN: 'tiny' } }));
    expect(issue!.value).toBe('(value hidden)');
    expect(JSON.stringify(issue)).not.toContain('tiny');
  });

  it('a missing config file', () => {
    const [issue] = issuesOf(() => loadConfig({ cwd: dir, env: {}, configFile: 'nope.yaml' }));
    expect(issue).toMatchObject({ setting: 'configFile', source: { kind: 'flag', flag: '--config-file' }, problem: 'does not exist' });
  });

  it('a config file that is not YAML, not a mapping, or has unknown keys', () => {
    expect(issuesOf(() => loadConfig({ cwd: dir, env: {}, configFile: file('a.yaml', 'a: [1\n') }))[0]!.problem).toMatch(/not valid YAML/);
    expect(issuesOf(() => loadConfig({ cwd: dir, env: {}, configFile: file('b.yaml', '- 1\n- 2\n') }))[0]!.problem).toMatch(/not a mapping/);
    const [unknown] = issuesOf(() => loadConfig({ cwd: dir, env: { BERTH_CONFIG_FILE: file('c.yaml', 'intervall: 5s\n') } }));
    expect(unknown).toMatchObject({ setting: 'intervall', source: { kind: 'env', name: 'BERTH_CONFIG_FILE' } });
    expect(unknown!.accepted).toContain('interval');
  });

  it('a file value of the wrong type', () => {
    const [issue] = issuesOf(() => loadConfig({ cwd: dir, env: {}, configFile: file('d.yaml', 'listen: [1, 2]\n') }));
    expect(issue).toMatchObject({ setting: 'listen', problem: 'must be a string or a number' });
  });

  it('an empty config file is fine', () => {
    expect(loadConfig({ cwd: dir, env: {}, configFile: file('e.yaml', '') }).runtime).toBe('auto');
  });
});

describe('listening beyond loopback', () => {
  it('is refused without an API token, with an explanation', () => {
    const [issue] = issuesOf(() => loadConfig({ cwd: dir, env: { BERTH_LISTEN: '0.0.0.0:7070' } }));
    expect(issue).toMatchObject({ setting: 'listen', source: { kind: 'env', name: 'BERTH_LISTEN' } });
    expect(issue!.problem).toMatch(/no API token/);
    expect(issue!.problem).toContain('BERTH_API_TOKEN');
  });

  it('is allowed with a token', () => {
    const c = loadConfig({ cwd: dir, env: { BERTH_LISTEN: '0.0.0.0:7070', BERTH_API_TOKEN: 'x'.repeat(16) } });
    expect(c.listen.host).toBe('0.0.0.0');
  });

  it.each(['127.0.0.1:1', '127.1.2.3:1', 'localhost:1', '[::1]:1', ':7070', '7070'])('%s counts as loopback', (listen) => {
    expect(() => loadConfig({ cwd: dir, env: {}, flags: { listen } })).not.toThrow();
  });
});
