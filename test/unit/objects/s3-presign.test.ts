/**
 * Berth's own SigV4 presigner (used for object bodies, so the daemon never loads the minio
 * client) must sign exactly as the minio client does: same time, same URL, byte for byte.
 * s3rver does not verify signatures, so this comparison is what keeps the signer honest.
 */
import { Client } from 'minio';
import { describe, expect, it } from 'vitest';
import { presignedUrl } from '../../../src/adapters/objects/s3/presign.js';
import { parseS3Url } from '../../../src/adapters/objects/s3/s3-url.js';

const at = new Date('2026-03-04T05:06:07.890Z');

function clientFor(url: string): Client {
  const c = parseS3Url(url, {});
  return new Client({
    endPoint: c.host,
    port: c.port,
    useSSL: c.useSSL,
    region: c.region,
    accessKey: c.credentials.accessKey,
    secretKey: c.credentials.secretKey,
    pathStyle: true,
  });
}

describe('SigV4 presigned URLs', () => {
  const cases: [string, 'GET' | 'PUT', string][] = [
    ['s3+http://AKIDEXAMPLE:wJalrXUtnFEMI%2FK7MDENG@127.0.0.1:9000/berth', 'GET', 'state/b1/state.tar.gz'],
    ['s3+http://AK:SK@127.0.0.1:9000/berth?region=eu-west-1', 'PUT', 'logs/b1/2026-03-04/0001772600767890-000001.ndjson'],
    ['s3://AK:SK@minio.example/berth', 'PUT', "code/b1/odd name (1)!'*~.tar.gz"],
    ['s3+https://AK:SK@minio.example:8443/my-bucket', 'GET', 'runs/b1/r-1.json'],
  ];
  for (const [url, method, key] of cases) {
    it(`${method} ${key} on ${url.replace(/\/\/[^@]*@/, '//')}`, async () => {
      const expected = await clientFor(url).presignedUrl(method, parseS3Url(url, {}).bucket, key, 900, {}, at);
      expect(presignedUrl(parseS3Url(url, {}), { method, key, expiresSeconds: 900, date: at })).toBe(expected);
    });
  }
});
