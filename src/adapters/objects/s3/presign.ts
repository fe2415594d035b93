/**
 * AWS Signature Version 4 presigned URLs (query-string authentication) for one object,
 * with node:crypto only. The object bodies (PUT, GET) need nothing else, so the
 * in-container daemon — which only downloads code and state and uploads state and log
 * chunks — never loads the `minio` client (its module tree costs the idle daemon ~9 MB).
 * The payload is UNSIGNED-PAYLOAD, as in every presigned URL: S3 accepts it over HTTP and
 * HTTPS. Checked against the minio client's own presignedUrl (test/unit/objects/s3-presign.test.ts).
 */
import { createHash, createHmac } from 'node:crypto';
import type { S3Config } from './s3-url.js';

export interface PresignOptions {
  readonly method: 'GET' | 'PUT' | 'HEAD' | 'DELETE';
  readonly key: string;
  /** Seconds the URL stays valid (1 s – 7 days). */
  readonly expiresSeconds: number;
  /** Signing time; default now. */
  readonly date?: Date;
}

/** RFC 3986 encoding as SigV4 wants it: everything but unreserved characters. */
function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** `20240102T030405Z` */
function amzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

export function presignedUrl(config: S3Config, opts: PresignOptions): string {
  const date = opts.date ?? new Date();
  const stamp = amzDate(date);
  const day = stamp.slice(0, 8);
  const scope = `${day}/${config.region}/s3/aws4_request`;
  const defaultPort = config.useSSL ? 443 : 80;
  const hostName = config.host.includes(':') ? `[${config.host}]` : config.host;
  const host = config.port === defaultPort ? hostName : `${hostName}:${config.port}`;
  // Path style: /<bucket>/<key>, each segment encoded, the slashes kept.
  const path = `/${uriEncode(config.bucket)}/${opts.key.split('/').map(uriEncode).join('/')}`;
  const query: [string, string][] = [
    ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
    ['X-Amz-Credential', `${config.credentials.accessKey}/${scope}`],
    ['X-Amz-Date', stamp],
    ['X-Amz-Expires', String(opts.expiresSeconds)],
    ['X-Amz-SignedHeaders', 'host'],
  ];
  const canonicalQuery = query
    .map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`)
    .sort()
    .join('&');
  const canonicalRequest = [opts.method, path, canonicalQuery, `host:${host}\n`, 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', stamp, scope, createHash('sha256').update(canonicalRequest, 'utf8').digest('hex')].join('\n');
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${config.credentials.secretKey}`, day), config.region), 's3'), 'aws4_request');
  const signature = createHmac('sha256', signingKey).update(stringToSign, 'utf8').digest('hex');
  return `${config.useSSL ? 'https' : 'http'}://${host}${path}?${canonicalQuery}&X-Amz-Signature=${signature}`;
}
