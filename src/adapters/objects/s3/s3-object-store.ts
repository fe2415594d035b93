/**
 * Object store on S3 / MinIO (DESIGN §2, §4), the seed's production adapter; also what the
 * in-container daemon uses (it talks to S3 directly, DESIGN §6).
 *
 * - Control calls (bucket, stat, list, delete) go through the `minio` client, which is
 *   imported lazily on first use: this module is bundled into the daemon, and the daemon
 *   only moves bodies, so it never loads the client (idle memory, DESIGN §6).
 * - Bodies go through URLs presigned here (presign.ts, transfer.ts): a single streamed PUT
 *   with its size — atomic on S3, never multipart, never held in memory — and a streamed GET.
 * - The client does not take an AbortSignal: for its calls the signal ends our wait (and a
 *   list stream), the request itself finishes or fails in the background.
 * - Keys follow the same rules as the filesystem store, so one bot's data is the same set
 *   of keys wherever it lives.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type { BucketItem, Client } from 'minio';
import { DAEMON_ENV } from '../../../domain/daemon-contract.js';
import { UnavailableError, ValidationError } from '../../../domain/errors.js';
import type { DaemonObjectAccess, ObjectBody, ObjectInfo, ObjectStore } from '../../../ports/objects.js';
import { assertValidKey, assertValidPrefix } from '../fs/keys.js';
import { readBotCredentials } from './bot-credentials.js';
import { isMissingObject, mapS3Error, s3ErrorCode } from './errors.js';
import { presignedUrl } from './presign.js';
import { S3_DAEMON_SECRET_ENV, redactS3Url, s3UrlWithoutCredentials, type S3Config } from './s3-url.js';
import { getBody, putBody, type TransferAgents } from './transfer.js';

/** Same rule as BOT_ID_PATTERN in src/domain/bot.ts (not imported: it would pull zod into the daemon bundle). */
const BOT_ID = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** S3's limit for one PUT; larger objects would need multipart, which Berth never uses. */
export const MAX_SINGLE_PUT_BYTES = 5 * 1024 ** 3;

/** Lifetime of a presigned URL: only needs to outlive the start of its own request. */
const PRESIGN_SECONDS = 15 * 60;

/** Deletes in flight at once for deletePrefix. */
const DELETE_CONCURRENCY = 8;

export class S3ObjectStore implements ObjectStore {
  readonly config: S3Config;
  private readonly agents: TransferAgents;
  private clientPromise: Promise<Client> | undefined;
  private closed = false;

  constructor(config: S3Config) {
    this.config = config;
    this.agents = {
      http: new http.Agent({ keepAlive: true, maxSockets: 32 }),
      https: new https.Agent({ keepAlive: true, maxSockets: 32 }),
    };
  }

  /** For logs: endpoint and bucket, never the credentials. */
  describe(): string {
    return redactS3Url(s3UrlWithoutCredentials(this.config));
  }

  async daemonAccess(botId: string, _where: 'container' | 'host'): Promise<DaemonObjectAccess> {
    if (!BOT_ID.test(botId)) throw ValidationError.single('botId', `${JSON.stringify(botId)} is not a valid bot id`);
    // The URL carries no credentials: they travel only as BERTH_SECRET_*, which the daemon
    // removes from the bot's environment (and from its own once read).
    const credentials =
      this.config.botCredentialsFile === undefined ? this.config.credentials : await readBotCredentials(this.config.botCredentialsFile, botId);
    return {
      env: {
        [DAEMON_ENV.objects]: s3UrlWithoutCredentials(this.config),
        [S3_DAEMON_SECRET_ENV.accessKey]: credentials.accessKey,
        [S3_DAEMON_SECRET_ENV.secretKey]: credentials.secretKey,
      },
      mounts: [],
    };
  }

  async init(signal?: AbortSignal): Promise<void> {
    const client = await this.client();
    const { bucket, region } = this.config;
    await this.call(`check bucket ${bucket}`, signal, async () => {
      if (await client.bucketExists(bucket)) return;
      try {
        await client.makeBucket(bucket, region);
      } catch (err) {
        // Another process created it meanwhile.
        if (s3ErrorCode(err) !== 'BucketAlreadyOwnedByYou' && s3ErrorCode(err) !== 'BucketAlreadyExists') throw err;
      }
    });
  }

  async put(key: string, body: Buffer | Readable, size?: number, signal?: AbortSignal): Promise<void> {
    assertValidKey(key);
    const length = checkedSize(key, body, size);
    signal?.throwIfAborted();
    this.assertOpen();
    const url = presignedUrl(this.config, { method: 'PUT', key, expiresSeconds: PRESIGN_SECONDS });
    try {
      await putBody(url, this.agents, key, body, length, signal);
    } catch (err) {
      if (!Buffer.isBuffer(body)) body.destroy();
      throw mapS3Error(`write ${key}`, err);
    }
  }

  async getStream(key: string, signal?: AbortSignal): Promise<Readable | null> {
    return this.response(key, signal);
  }

  /** The GET response of a presigned URL, or null for a missing key. */
  private async response(key: string, signal: AbortSignal | undefined): Promise<IncomingMessage | null> {
    assertValidKey(key);
    signal?.throwIfAborted();
    this.assertOpen();
    const url = presignedUrl(this.config, { method: 'GET', key, expiresSeconds: PRESIGN_SECONDS });
    try {
      return await getBody(url, this.agents, signal);
    } catch (err) {
      throw mapS3Error(`read ${key}`, err);
    }
  }

  async get(key: string, signal?: AbortSignal): Promise<Buffer | null> {
    const stream = await this.getStream(key, signal);
    return stream ? collectBody(key, stream) : null;
  }

  async read(key: string, inMemoryUpTo: number, signal?: AbortSignal): Promise<ObjectBody | null> {
    const response = await this.response(key, signal);
    if (!response) return null;
    // Without a Content-Length (chunked) the size is unknown: streamed, never held.
    const length = Number(response.headers['content-length'] ?? Number.NaN);
    if (!(length <= inMemoryUpTo)) return { stream: response };
    return { bytes: await collectBody(key, response) };
  }

  async stat(key: string, signal?: AbortSignal): Promise<ObjectInfo | null> {
    assertValidKey(key);
    const client = await this.client();
    return this.call(`stat ${key}`, signal, async () => {
      try {
        const info = await client.statObject(this.config.bucket, key);
        return { key, size: info.size, modifiedAt: info.lastModified };
      } catch (err) {
        if (isMissingObject(err)) return null;
        throw err;
      }
    });
  }

  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<ObjectInfo> {
    assertValidPrefix(prefix);
    signal?.throwIfAborted();
    const client = await this.client();
    const stream = client.listObjectsV2(this.config.bucket, prefix, true);
    const onAbort = (): void => {
      stream.destroy(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const item of stream as AsyncIterable<BucketItem>) {
        if (item.name !== undefined) yield { key: item.name, size: item.size, modifiedAt: item.lastModified ?? new Date(0) };
      }
    } catch (err) {
      throw mapS3Error(`list ${prefix}`, err);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      stream.destroy();
    }
  }

  async delete(key: string, signal?: AbortSignal): Promise<void> {
    assertValidKey(key);
    const client = await this.client();
    // S3's DELETE of a missing key succeeds: idempotent as the port asks.
    await this.call(`delete ${key}`, signal, () => client.removeObject(this.config.bucket, key));
  }

  async deletePrefix(prefix: string, signal?: AbortSignal): Promise<number> {
    assertValidPrefix(prefix);
    const client = await this.client();
    // Listed first, then deleted: deleting while paging the same listing could skip keys.
    // One DELETE per key (a few at a time) rather than the multi-object POST, which not
    // every S3-compatible server implements (s3rver answers it with HTTP 500).
    const keys: string[] = [];
    for await (const info of this.list(prefix, signal)) keys.push(info.key);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < keys.length) {
        const key = keys[next++] as string;
        await this.call(`delete ${key}`, signal, () => client.removeObject(this.config.bucket, key));
      }
    };
    await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, keys.length) }, worker));
    return keys.length;
  }

  async ping(signal?: AbortSignal): Promise<void> {
    const client = await this.client();
    const exists = await this.call('ping', signal, () => client.bucketExists(this.config.bucket));
    if (!exists) throw new UnavailableError('objects', `bucket ${this.config.bucket} does not exist at ${this.describe()}`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  private assertOpen(): void {
    if (this.closed) throw new UnavailableError('objects', 'the object store is closed');
  }

  private client(): Promise<Client> {
    if (this.closed) return Promise.reject(new UnavailableError('objects', 'the object store is closed'));
    this.clientPromise ??= import('minio').then(({ Client }) => {
      const { host, port, useSSL, region, credentials } = this.config;
      return new Client({
        endPoint: host,
        port,
        useSSL,
        region,
        accessKey: credentials.accessKey,
        secretKey: credentials.secretKey,
        pathStyle: true,
        transportAgent: useSSL ? this.agents.https : this.agents.http,
        // Callers retry on their own schedule; the client's retry also prints to the console.
        retryOptions: { disableRetry: true },
      });
    });
    return this.clientPromise;
  }

  /** Runs a client call; the signal ends the wait, failures become typed errors. */
  private async call<T>(what: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    signal?.throwIfAborted();
    try {
      return await raceAbort(fn(), signal);
    } catch (err) {
      throw mapS3Error(what, err);
    }
  }
}

async function collectBody(key: string, stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  try {
    for await (const part of stream) parts.push(part as Buffer);
  } catch (err) {
    throw mapS3Error(`read ${key}`, err);
  }
  return Buffer.concat(parts);
}

function checkedSize(key: string, body: Buffer | Readable, size: number | undefined): number {
  if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) {
    throw ValidationError.single('size', 'must be a non-negative whole number');
  }
  if (Buffer.isBuffer(body)) {
    if (size !== undefined && size !== body.length) {
      throw ValidationError.single('size', `${key}: expected ${size} bytes, the body had ${body.length}`);
    }
    return body.length;
  }
  if (size === undefined) throw ValidationError.single('size', `${key}: a stream needs its size on S3 (one PUT with a Content-Length)`);
  if (size > MAX_SINGLE_PUT_BYTES) throw ValidationError.single('size', `${key}: ${size} bytes is more than S3 takes in one PUT (5 GiB)`);
  return size;
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason instanceof Error ? signal.reason : new DOMException('aborted', 'AbortError'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
