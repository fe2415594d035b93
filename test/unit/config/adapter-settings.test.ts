/**
 * The three adapter settings of the separate processes (store, objects, events) work the
 * same from each source — flag, environment variable, config file — with the production
 * URLs (MongoDB, S3, NATS), and a bad one names its source and the accepted forms.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-adapter-settings-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const PRODUCTION = {
  store: 'mongodb://mongo:27017/berth',
  objects: 's3://minio:9000/berth',
  events: 'nats://nats:4222',
} as const;

describe('store, objects and events from each source', () => {
  it('flags (berth serve --store … --objects … --events …)', () => {
    const c = loadConfig({ cwd: dir, env: {}, flags: { ...PRODUCTION } });
    expect(c).toMatchObject(PRODUCTION);
    expect(c.sources.events).toEqual({ kind: 'flag', flag: '--events' });
    expect(c.sources.store).toEqual({ kind: 'flag', flag: '--store' });
    expect(c.sources.objects).toEqual({ kind: 'flag', flag: '--objects' });
  });

  it('environment variables (BERTH_STORE, BERTH_OBJECTS, BERTH_EVENTS: what docker-compose.yml sets)', () => {
    const c = loadConfig({ cwd: dir, env: { BERTH_STORE: PRODUCTION.store, BERTH_OBJECTS: PRODUCTION.objects, BERTH_EVENTS: PRODUCTION.events } });
    expect(c).toMatchObject(PRODUCTION);
    expect(c.sources.events).toEqual({ kind: 'env', name: 'BERTH_EVENTS' });
  });

  it('a config file (keys store, objects, events), found by --config-file or BERTH_CONFIG_FILE', () => {
    const file = path.join(dir, 'berth.yaml');
    writeFileSync(file, `store: ${PRODUCTION.store}\nobjects: ${PRODUCTION.objects}\nevents: ${PRODUCTION.events}\n`);
    for (const c of [loadConfig({ cwd: dir, env: {}, configFile: file }), loadConfig({ cwd: dir, env: { BERTH_CONFIG_FILE: file } })]) {
      expect(c).toMatchObject(PRODUCTION);
      expect(c.sources.events).toEqual({ kind: 'file', path: file, key: 'events' });
    }
  });

  it('flag over environment over file, per setting', () => {
    const file = path.join(dir, 'berth.yaml');
    writeFileSync(file, 'events: nats://from-file:4222\nstore: mongodb://from-file/berth\nobjects: s3://from-file/b\n');
    const c = loadConfig({
      cwd: dir,
      configFile: file,
      env: { BERTH_EVENTS: 'nats://from-env:4222', BERTH_STORE: 'mongodb://from-env/berth' },
      flags: { events: 'nats://from-flag:4222' },
    });
    expect(c.events).toBe('nats://from-flag:4222');
    expect(c.store).toBe('mongodb://from-env/berth');
    expect(c.objects).toBe('s3://from-file/b');
  });

  it('a bad events URL names the source and the accepted forms', () => {
    let caught: unknown;
    try {
      loadConfig({ cwd: dir, env: { BERTH_EVENTS: 'redis://x' } });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const issue = (caught as ConfigError).issues[0];
    expect(issue).toMatchObject({ setting: 'events', source: { kind: 'env', name: 'BERTH_EVENTS' } });
    expect(issue?.accepted).toMatch(/nats:\/\//);
    expect((caught as ConfigError).message).toMatch(/BERTH_EVENTS/);
  });
});
