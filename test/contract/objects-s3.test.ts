/**
 * The S3 object store: the shared contract against s3rver (a child process on a random
 * port, test/support/s3-server.ts) and, when BERTH_TEST_S3_URL is set, against that real
 * S3/MinIO too (one fresh bucket per test, emptied and removed afterwards); then what only
 * S3 has — the URL forms, credentials, the daemon's access, a server that is down.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'minio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openObjectStore } from '../../src/adapters/objects/open.js';
import { S3ObjectStore } from '../../src/adapters/objects/s3/s3-object-store.js';
import { parseS3Url, redactS3Url } from '../../src/adapters/objects/s3/s3-url.js';
import { UnavailableError, ValidationError } from '../../src/domain/errors.js';
import { keys, objectStoreContract } from './objects.contract.js';
import { externalS3Url, startS3Server, stopAllS3Servers, uniqueBucket, type S3Server } from '../support/s3-server.js';

let server: S3Server;
beforeAll(async () => {
  server = await startS3Server();
}, 30_000);
afterAll(async () => {
  await server?.dispose();
  await stopAllS3Servers();
});

/** Empties and removes the bucket through the plain client (the port has no bucket removal). */
async function dropBucket(url: string): Promise<void> {
  const config = parseS3Url(url, {});
  const client = new Client({
    endPoint: config.host,
    port: config.port,
    useSSL: config.useSSL,
    region: config.region,
    accessKey: config.credentials.accessKey,
    secretKey: config.credentials.secretKey,
    pathStyle: true,
  });
  const store = new S3ObjectStore(config);
  try {
    await store.deletePrefix('');
    if (await client.bucketExists(config.bucket)) await client.removeBucket(config.bucket);
  } finally {
    await store.close();
  }
}

function fixtureFor(url: () => string) {
  return async () => {
    const target = url();
    return { store: openObjectStore(target, { env: {} }), cleanup: () => dropBucket(target) };
  };
}

objectStoreContract('s3 (s3rver)', fixtureFor(() => server.url(uniqueBucket())));

const external = process.env.BERTH_TEST_S3_URL?.trim();
if (external) {
  objectStoreContract('s3 (BERTH_TEST_S3_URL)', fixtureFor(() => externalS3Url(uniqueBucket()) as string));
} else {
  describe('ObjectStore contract: s3 (BERTH_TEST_S3_URL)', () => {
    it.skip('runs only when BERTH_TEST_S3_URL names a real S3/MinIO (none can be obtained on the CI machines)', () => undefined);
  });
}

describe('S3 URL and credentials', () => {
  it('accepts the three schemes, with credentials in the URL or the environment', () => {
    const https = parseS3Url('s3://AK:SK@minio.example:9000/berth?region=eu-west-1', {});
    expect(https).toMatchObject({ useSSL: true, host: 'minio.example', port: 9000, bucket: 'berth', region: 'eu-west-1' });
    expect(https.credentials).toEqual({ accessKey: 'AK', secretKey: 'SK' });
    expect(parseS3Url('s3+https://AK:SK@h/berth', {})).toMatchObject({ useSSL: true, port: 443, region: 'us-east-1' });
    const plain = parseS3Url('s3+http://127.0.0.1:9000/berth', { BERTH_S3_ACCESS_KEY: 'AK2', BERTH_S3_SECRET_KEY: 'SK2' });
    expect(plain).toMatchObject({ useSSL: false, port: 9000 });
    expect(plain.credentials).toEqual({ accessKey: 'AK2', secretKey: 'SK2' });
    expect(parseS3Url('s3+http://a%2Fb:s%40c@h:1/bkt', {}).credentials).toEqual({ accessKey: 'a/b', secretKey: 's@c' });
  });

  it('refuses bad URLs naming the objects field, never echoing the secret', () => {
    const bad = [
      's3+http://AK:TOPSECRET@h:9000/',
      's3+http://AK:TOPSECRET@h:9000/a/b',
      's3+http://AK:TOPSECRET@h:9000/Bad_Bucket',
      's3+http://AK:TOPSECRET@h:9000/berth?prefix=x',
      's3+http://AK:TOPSECRET@h:9000/berth?region=bad%20region',
      's3+http://AK@h:9000/berth',
      's3+http://h:9000/berth',
      's3+ftp://AK:TOPSECRET@h/berth',
    ];
    for (const url of bad) {
      let error: unknown;
      try {
        openObjectStore(url, { env: {} });
      } catch (err) {
        error = err;
      }
      expect(error, url).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues[0]?.field, url).toBe('objects');
      expect((error as Error).message, url).not.toContain('TOPSECRET');
    }
  });

  it('redacts the secret for logs', () => {
    expect(redactS3Url('s3+http://AK:TOPSECRET@h:9000/berth')).toBe('s3+http://AK:***@h:9000/berth');
    expect(redactS3Url('s3://h/berth')).toBe('s3://h/berth');
    expect(redactS3Url('file:/x')).toBe('file:/x');
  });
});

describe('S3ObjectStore specifics', () => {
  it('creates its bucket in init', async () => {
    const url = server.url(uniqueBucket());
    const store = openObjectStore(url, { env: {} });
    try {
      await expect(store.ping()).rejects.toBeInstanceOf(UnavailableError);
      await store.init();
      await store.init();
      await expect(store.ping()).resolves.toBeUndefined();
    } finally {
      await store.close();
      await dropBucket(url);
    }
  });

  it('gives a daemon the endpoint and the credentials as BERTH_SECRET_* variables, and no mounts', async () => {
    const store = openObjectStore('s3+http://AK:TOPSECRET@127.0.0.1:9000/berth?region=eu-west-1', { env: {} });
    for (const where of ['container', 'host'] as const) {
      const access = await store.daemonAccess('b1', where);
      expect(access.mounts).toEqual([]);
      expect(access.env).toEqual({
        BERTH_DAEMON_OBJECTS: 's3+http://127.0.0.1:9000/berth?region=eu-west-1',
        BERTH_SECRET_S3_ACCESS_KEY: 'AK',
        BERTH_SECRET_S3_SECRET_KEY: 'TOPSECRET',
      });
    }
    // The daemon's URL opens with the secret variables alone.
    const daemonSide = openObjectStore('s3+http://127.0.0.1:9000/berth?region=eu-west-1', {
      env: { BERTH_SECRET_S3_ACCESS_KEY: 'AK', BERTH_SECRET_S3_SECRET_KEY: 'TOPSECRET' },
      s3CredentialEnv: { accessKey: 'BERTH_SECRET_S3_ACCESS_KEY', secretKey: 'BERTH_SECRET_S3_SECRET_KEY' },
    });
    expect((daemonSide as S3ObjectStore).config.credentials.secretKey).toBe('TOPSECRET');
    await store.close();
    await daemonSide.close();
  });

  it('gives each daemon its own credentials from a botCredentials file, and refuses bots without an entry', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-s3-creds-'));
    const file = join(dir, 'bots.json');
    const url = `s3+http://ADMIN:ADMINSECRET@127.0.0.1:9000/berth?botCredentials=${encodeURIComponent(file)}`;
    const store = openObjectStore(url, { env: {} });
    const refusal = async (botId: string) => {
      const error = await store.daemonAccess(botId, 'container').then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error, botId).toBeInstanceOf(ValidationError);
      expect((error as Error).message).not.toMatch(/ADMINSECRET|B1SECRET/);
      return (error as ValidationError).issues[0];
    };
    try {
      expect((await refusal('b1'))?.message).toMatch(/cannot read/);
      await writeFile(file, JSON.stringify({ b1: { accessKey: 'B1', secretKey: 'B1SECRET' }, b2: { accessKey: 'B2' } }), { mode: 0o600 });
      await chmod(file, 0o600);
      expect((await store.daemonAccess('b1', 'container')).env).toMatchObject({
        BERTH_SECRET_S3_ACCESS_KEY: 'B1',
        BERTH_SECRET_S3_SECRET_KEY: 'B1SECRET',
      });
      expect(await refusal('b2')).toMatchObject({ field: 'objects.botCredentials.b2' });
      expect(await refusal('b3')).toMatchObject({ field: 'objects.botCredentials.b3' });
      // Read at every start: a new entry needs no restart.
      await writeFile(file, JSON.stringify({ b3: { accessKey: 'B3', secretKey: 'B3SECRET' } }));
      expect((await store.daemonAccess('b3', 'host')).env.BERTH_SECRET_S3_ACCESS_KEY).toBe('B3');
      await writeFile(file, '{"b1": {"accessKey": "B1", "secretKey": "B1SECRET"');
      expect((await refusal('b1'))?.message).toMatch(/not valid JSON/);
      await chmod(file, 0o644);
      expect((await refusal('b3'))?.message).toMatch(/chmod 600/);
      expect(() => openObjectStore('s3+http://A:B@h:1/berth?botCredentials=relative.json', { env: {} })).toThrow(ValidationError);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports a server that is not there as UnavailableError with the cause, for every call', async () => {
    // A port nothing listens on: the server stopped, connection refused.
    const stopped = await startS3Server();
    const url = stopped.url('berth');
    await stopped.dispose();
    const store = openObjectStore(url, { env: {} });
    try {
      const calls: [string, () => Promise<unknown>][] = [
        ['init', () => store.init()],
        ['ping', () => store.ping()],
        ['put', () => store.put('state/b1/s', Buffer.from('x'))],
        ['get', () => store.get('state/b1/s')],
        ['getStream', () => store.getStream('state/b1/s')],
        ['stat', () => store.stat('state/b1/s')],
        ['list', () => keys(store.list('state/'))],
        ['delete', () => store.delete('state/b1/s')],
        ['deletePrefix', () => store.deletePrefix('state/')],
      ];
      for (const [name, call] of calls) {
        const error = await call().then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(error, name).toBeInstanceOf(UnavailableError);
        expect((error as UnavailableError).dependency, name).toBe('objects');
        expect((error as Error).cause, name).toBeDefined();
        expect((error as Error).message, name).not.toContain('S3RVER:S3RVER');
      }
    } finally {
      await store.close();
    }
  });

  it('reports refused credentials as UnavailableError without the secret', async () => {
    const bucket = uniqueBucket();
    const good = openObjectStore(server.url(bucket), { env: {} });
    await good.init();
    const store = openObjectStore(`s3+http://NOBODY:TOPSECRET@127.0.0.1:${server.port}/${bucket}`, { env: {} });
    try {
      const error = await store.put('state/b1/s', Buffer.from('x')).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(UnavailableError);
      expect((error as Error).message).toMatch(/InvalidAccessKeyId|Access Key/i);
      expect((error as Error).message).not.toContain('TOPSECRET');
    } finally {
      await store.close();
      await good.close();
      await dropBucket(server.url(bucket));
    }
  });

  it('refuses a stream without a size (one PUT needs its Content-Length) and a size above 5 GiB', async () => {
    const store = openObjectStore(server.url(uniqueBucket()), { env: {} });
    const { Readable } = await import('node:stream');
    await expect(store.put('state/b1/s', Readable.from([Buffer.from('x')]))).rejects.toBeInstanceOf(ValidationError);
    await expect(store.put('state/b1/s', Readable.from([Buffer.from('x')]), 6 * 1024 ** 3)).rejects.toBeInstanceOf(ValidationError);
    await store.close();
  });
});
