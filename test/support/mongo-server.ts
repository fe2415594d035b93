/**
 * MongoDB-protocol servers for tests. `startMongoTestServer()` runs CongoDB (see
 * mongo-server-main.ts) as a child process on a free 127.0.0.1 port; `stop()` takes it down
 * (by PID) and `start()` brings it back on the same port with the same data. Every process
 * started here is stopped in `stopAllMongoTestServers()` (call it in afterAll) or, as a
 * last resort, when the test process exits.
 *
 * `BERTH_TEST_MONGODB_URL` (e.g. `mongodb://127.0.0.1:27017/?directConnection=true`) names a
 * real mongod: suites run against it too, each in a database of its own that is dropped
 * afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';

const MAIN = fileURLToPath(new URL('./mongo-server-main.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const START_TIMEOUT_MS = 30_000;

export interface MongoTestServer {
  /** Fixed for the server's life, also across stop()/start(). */
  readonly port: number;
  /** PID of the running server process (undefined while stopped). */
  readonly pid: number | undefined;
  /** A connection URL for `database`. */
  url(database: string): string;
  /** SIGTERM by PID and wait for the exit. Idempotent. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the data it had. */
  start(): Promise<void>;
  /** Stops it and removes its data. Idempotent. */
  dispose(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startMongoTestServer(): Promise<MongoTestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-congodb-'));
  const persist = join(dir, 'data.json');
  let child: ChildProcess | undefined;
  let port = 0;
  const launch = async () => {
    const started = await spawnServer(port, persist);
    child = started.child;
    port = started.port;
  };
  const stop = async () => {
    const current = child;
    child = undefined;
    if (current) await stopChild(current);
  };
  try {
    await launch();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    get port() {
      return port;
    },
    get pid() {
      return child?.pid;
    },
    url: (database) => `mongodb://127.0.0.1:${port}/${database}?directConnection=true`,
    stop,
    start: async () => {
      if (!child) await launch();
    },
    dispose: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Kills (by PID) every server still running; for afterAll. */
export async function stopAllMongoTestServers(): Promise<void> {
  await Promise.all([...running].map(stopChild));
}

async function spawnServer(port: number, persist: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, String(port), persist], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d.slice(0, 16_384)));
  const exited = once(child, 'exit');
  void exited.then(() => running.delete(child));
  try {
    const listening = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`CongoDB did not start within ${START_TIMEOUT_MS} ms:\n${err}`)), START_TIMEOUT_MS);
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const m = /listening (\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      void exited.then(([code]) => {
        clearTimeout(timer);
        reject(new Error(`CongoDB exited (${String(code)}) before listening on port ${port}:\n${err}`));
      });
    });
    return { child, port: listening };
  } catch (error) {
    await stopChild(child);
    throw error;
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  process.kill(child.pid!, 'SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** A database name no other run uses. */
export function uniqueDatabase(label: string): string {
  return `berth_${label}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** `BERTH_TEST_MONGODB_URL` with its database replaced by `database`; undefined when unset. */
export function externalMongoUrl(database: string): string | undefined {
  const base = process.env.BERTH_TEST_MONGODB_URL;
  if (!base) return undefined;
  const m = /^(mongodb(?:\+srv)?:\/\/[^/?#]*)(?:\/[^?#]*)?(\?.*)?$/i.exec(base);
  if (!m) throw new Error(`BERTH_TEST_MONGODB_URL is not a mongodb:// URL: ${base}`);
  return `${m[1]}/${database}${m[2] ?? ''}`;
}

/** Drops the database a test used (its name is in the URL). */
export async function dropDatabase(url: string): Promise<void> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 5_000 });
  try {
    await client.db().dropDatabase();
  } finally {
    await client.close();
  }
}
