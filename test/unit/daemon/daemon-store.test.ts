/**
 * The daemon's store on S3: credentials come from BERTH_SECRET_* only, leave the daemon's
 * environment once read, and stay available to a second open in the same process
 * (`berth-daemon start` opens the store for init and again for run).
 */
import { describe, expect, it } from 'vitest';
import type { S3ObjectStore } from '../../../src/adapters/objects/s3/s3-object-store.js';
import { openDaemonStore } from '../../../src/daemon/store.js';
import { DaemonFailure } from '../../../src/daemon/failure.js';
import { INIT_EXIT } from '../../../src/domain/daemon-contract.js';

describe('openDaemonStore on S3', () => {
  it('takes the credentials out of the environment and keeps them for a second open', async () => {
    const env: NodeJS.ProcessEnv = {
      BERTH_DAEMON_OBJECTS: 's3+http://127.0.0.1:9000/berth?region=us-east-1',
      BERTH_SECRET_S3_ACCESS_KEY: 'AK',
      BERTH_SECRET_S3_SECRET_KEY: 'TOPSECRET',
      PATH: '/usr/bin',
    };
    const first = (await openDaemonStore(env.BERTH_DAEMON_OBJECTS!, env)) as S3ObjectStore;
    expect(first.config.credentials).toEqual({ accessKey: 'AK', secretKey: 'TOPSECRET' });
    expect(Object.keys(env).sort()).toEqual(['BERTH_DAEMON_OBJECTS', 'PATH']);
    const second = (await openDaemonStore(env.BERTH_DAEMON_OBJECTS!, env)) as S3ObjectStore;
    expect(second.config.credentials.secretKey).toBe('TOPSECRET');
    await first.close();
    await second.close();
  });

  it('reports a bad URL as bad settings without the secret', async () => {
    const error: unknown = await openDaemonStore('s3+http://AK:TOPSECRET@127.0.0.1:9000/Bad_Bucket', {}).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(DaemonFailure);
    expect((error as DaemonFailure).exitCode).toBe(INIT_EXIT.badSettings);
    expect((error as Error).message).toContain('BERTH_DAEMON_OBJECTS');
    expect((error as Error).message).not.toContain('TOPSECRET');
  });
});
