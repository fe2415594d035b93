/**
 * An S3 server for tests: s3rver 3.7.1 as a child process on 127.0.0.1 and a random port
 * (STACK.md), patched to publish PUTs atomically like S3/MinIO (see s3rver-child.cjs).
 * A child process, so a test can stop it (by PID) for a while and start it again on the
 * same port and directory — what the outage tests need. s3rver accepts the access key
 * S3RVER and does not verify signatures. Every server started here is tracked and killed
 * in `stopAllS3Servers()` (call it in afterAll), also when a test failed.
 *
 * `BERTH_TEST_S3_URL` (e.g. `s3+http://KEY:SECRET@127.0.0.1:9000/any-bucket`) names a real
 * S3/MinIO the suites also run against; `s3UrlWithBucket` gives each test its own bucket.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

const CHILD = fileURLToPath(new URL('./s3rver-child.cjs', import.meta.url));

/** The only credentials s3rver knows. */
export const S3RVER_CREDENTIALS = { accessKey: 'S3RVER', secretKey: 'S3RVER' } as const;

export interface S3Server {
  readonly port: number;
  readonly directory: string;
  /** `s3+http://S3RVER:S3RVER@127.0.0.1:<port>/<bucket>` */
  url(bucket: string): string;
  pid(): number | undefined;
  /** SIGTERM, wait for exit. Idempotent. */
  stop(): Promise<void>;
  /** Starts it again on the same port and directory. */
  start(): Promise<void>;
  /** Stops it and deletes its directory. */
  dispose(): Promise<void>;
}

const running = new Set<ChildProcess>();

export async function startS3Server(): Promise<S3Server> {
  const directory = await mkdtemp(join(tmpdir(), 'berth-s3rver-'));
  let port = 0;
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const proc = spawn(process.execPath, [CHILD, directory, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(proc);
    child = proc;
    const exited = once(proc, 'exit').then(() => running.delete(proc));
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 1 << 16) stderr += d.toString('utf8');
    });
    let stdout = '';
    const listening = new Promise<number>((resolve, reject) => {
      proc.stdout!.on('data', (d: Buffer) => {
        stdout += d.toString('utf8');
        const line = stdout.split('\n')[0];
        if (stdout.includes('\n') && line) resolve((JSON.parse(line) as { port: number }).port);
      });
      proc.once('exit', (code) => reject(new Error(`s3rver exited (${code}) before listening: ${stderr.slice(-2000)}`)));
    });
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    try {
      port = await listening;
    } catch (err) {
      proc.kill('SIGKILL');
      await exited;
      child = undefined;
      throw err;
    } finally {
      clearTimeout(timer);
    }
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    running.delete(proc);
  };

  await launch();
  return {
    get port() {
      return port;
    },
    directory,
    url: (bucket) => `s3+http://${S3RVER_CREDENTIALS.accessKey}:${S3RVER_CREDENTIALS.secretKey}@127.0.0.1:${port}/${bucket}`,
    pid: () => child?.pid,
    stop,
    start: async () => {
      if (child) return;
      await launch();
    },
    dispose: async () => {
      await stop();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Kills every server still running (afterAll safety net). */
export async function stopAllS3Servers(): Promise<void> {
  await Promise.all(
    [...running].map(async (proc) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill('SIGKILL');
      await exited;
    }),
  );
  running.clear();
}

/** A fresh bucket name for one test: `berth-test-<hex>`. */
export function uniqueBucket(label = 'test'): string {
  return `berth-${label}-${randomBytes(5).toString('hex')}`;
}

/** `BERTH_TEST_S3_URL` with its bucket replaced, or undefined when it is not set. */
export function externalS3Url(bucket: string): string | undefined {
  const base = process.env.BERTH_TEST_S3_URL?.trim();
  if (!base) return undefined;
  const url = new URL(base);
  url.pathname = `/${bucket}`;
  return url.toString();
}
