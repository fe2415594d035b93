/**
 * Shared set-up of the live-bot end-to-end suites: one real `berth serve` child process per
 * suite on the runtime under test, the real CLI, and a probe that acts on containers from
 * outside (docker kill / docker stop, or their process-runtime equivalents).
 */
import { randomBytes } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'vitest';
import type { BotView } from '../../src/core/queries/status-view.js';
import { apiJson, berthOk, newDataDir, setDefaultBerthEnv, startBerth, type BerthServer, type ServeOptions } from '../support/berth-process.js';
import { dockerUnavailableReason, dockerRequired, ensureTestImage } from '../support/image.js';
import { dockerProbe, processProbe, type RuntimeProbe } from '../support/runtime-probe.js';
import { waitFor } from '../support/wait.js';

export type RuntimeName = 'docker' | 'process';

export const FIXTURES = new URL('../fixtures/bots/', import.meta.url).pathname;
export const EXAMPLES = new URL('../../examples/', import.meta.url).pathname;

export function uniqueId(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

/** Why this runtime cannot run here (undefined when it can). Docker missing under BERTH_REQUIRE_DOCKER=1 is a failure, not a skip. */
export async function runtimeSkipReason(runtime: RuntimeName): Promise<string | undefined> {
  if (runtime === 'process') return undefined;
  const reason = await dockerUnavailableReason();
  if (reason && dockerRequired()) throw new Error(`BERTH_REQUIRE_DOCKER=1 but ${reason}`);
  return reason;
}

export interface Harness {
  readonly runtime: RuntimeName;
  readonly instance: string;
  server: BerthServer;
  readonly probe: RuntimeProbe;
  readonly image?: string;
  restart(): Promise<void>;
  close(): Promise<void>;
}

/**
 * How Berth is deployed for a suite: one `berth serve`, or `berth api` and `berth bot-runner`
 * as separate processes sharing the store and object store (same data directory: the SQLite
 * file and the objects directory) and the event bus given here (`nats://…`, or `memory:`,
 * which does not cross processes).
 */
export type DeploymentShape =
  | { readonly processes: 'serve' }
  | {
      readonly processes: 'split';
      readonly events: string;
      /** Settings every berth process of the suite gets by environment (BERTH_STORE, BERTH_OBJECTS, …). */
      readonly env?: Readonly<Record<string, string>>;
      /** Docker network of the bots (`host` when they must reach a test server on 127.0.0.1). */
      readonly network?: string;
      /**
       * Where the object store keeps its keys on disk, when it is not `<data-dir>/objects`
       * (an S3 test server's bucket directory): linked there, so the suites look at the
       * stored objects the same way on every shape.
       */
      readonly objectsDir?: string;
    };

export interface HarnessOptions {
  readonly interval?: string;
  readonly grace?: string;
  /** Default: one `berth serve`. */
  readonly shape?: DeploymentShape;
}

/**
 * `berth api` + `berth bot-runner` seen as one server by the suites: the API's URL, the
 * runner's service log first (what the suites count), both stopped or killed together.
 */
export interface SplitServer extends BerthServer {
  readonly api: BerthServer;
  readonly runner: BerthServer;
}

export function splitServer(api: BerthServer, runner: BerthServer): SplitServer {
  return {
    api,
    runner,
    url: api.url,
    pid: runner.pid,
    dataDir: runner.dataDir,
    stderr: () => `${runner.stderr()}${api.stderr()}`,
    logs: () => [...runner.logs(), ...api.logs()],
    stop: async () => {
      await runner.stop();
      await api.stop();
    },
    kill: async () => {
      await runner.kill();
      await api.kill();
    },
  };
}

/** Starts the deployment: `berth serve`, or bot-runner then api on one data directory. */
export async function startDeployment(shape: DeploymentShape, options: ServeOptions): Promise<BerthServer> {
  if (shape.processes === 'serve') return startBerth(options);
  const dataDir = options.dataDir ?? (await newDataDir(options.instance));
  const shared = { ...options, dataDir, extraArgs: [...(options.extraArgs ?? []), '--events', shape.events] };
  const runner = await startBerth({ ...shared, command: 'bot-runner' });
  try {
    const server = splitServer(await startBerth({ ...shared, command: 'api' }), runner);
    await assertAdapters(server, shape);
    return server;
  } catch (err) {
    await runner.kill();
    throw err;
  }
}

/** Both processes really opened the store, object store and bus of the shape (not a default). */
async function assertAdapters(server: SplitServer, shape: Extract<DeploymentShape, { processes: 'split' }>): Promise<void> {
  const scheme = (url: string | undefined) => url?.split(':')[0];
  for (const [who, proc] of [['bot-runner', server.runner], ['api', server.api]] as const) {
    // The JSON log is written asynchronously: wait for the line rather than racing it.
    const opened = await waitFor(`${who} logs "adapters opened"`, () => proc.logs().find((l) => l.msg === 'adapters opened'), { timeoutMs: 10_000, intervalMs: 20 });
    const want = { events: scheme(shape.events), store: scheme(shape.env?.BERTH_STORE) ?? 'sqlite', objects: scheme(shape.env?.BERTH_OBJECTS) ?? 'file' };
    const got = { events: scheme(String(opened?.events)), store: scheme(String(opened?.store)), objects: scheme(String(opened?.objects)) };
    if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${who} opened ${JSON.stringify(got)}, not ${JSON.stringify(want)}`);
  }
}

export async function startHarness(runtime: RuntimeName, label: string, opts: HarnessOptions = {}): Promise<Harness> {
  const instance = uniqueId(`e2e-${label}`);
  const image = runtime === 'docker' ? await ensureTestImage() : undefined;
  const shape = opts.shape ?? { processes: 'serve' };
  const serveOptions = {
    runtime,
    instance,
    interval: opts.interval ?? '30s',
    grace: opts.grace ?? '10',
    ...(image ? { image } : {}),
    ...(shape.processes === 'split' && shape.network ? { network: shape.network } : {}),
  };
  // Always set (also to nothing): a suite that failed before its close() must not leak its stores.
  setDefaultBerthEnv(shape.processes === 'split' ? shape.env : undefined);
  const dataDir = await newDataDir(instance);
  if (shape.processes === 'split' && shape.objectsDir) await symlink(shape.objectsDir, join(dataDir, 'objects'));
  const server = await startDeployment(shape, { ...serveOptions, dataDir });
  const probe = runtime === 'docker' ? dockerProbe(instance) : processProbe(server.dataDir, instance);
  const harness: Harness = {
    runtime,
    instance,
    server,
    probe,
    ...(image ? { image } : {}),
    async restart() {
      harness.server = await startDeployment(shape, { ...serveOptions, dataDir: server.dataDir });
    },
    async close() {
      // The service first: a running one would start a removed bot again at once (the
      // container's destroy event triggers a reconcile). Then every container of the instance.
      await harness.server.kill();
      const leftovers = await probe.runtime.list({});
      await Promise.all(leftovers.map((c) => probe.runtime.remove(c.id)));
      await probe.close();
      setDefaultBerthEnv(undefined);
    },
  };
  return harness;
}

export async function deploy(h: Harness, dir: string, id: string, extra: readonly string[] = []): Promise<string> {
  return berthOk(h.server.url, ['deploy', dir, '--id', id, ...extra]);
}

export async function botView(h: Harness, id: string): Promise<BotView> {
  const r = await apiJson<BotView>(h.server.url, `/v1/bots/${id}`);
  if (r.status !== 200) throw new Error(`GET /v1/bots/${id}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export interface StoredState {
  exists: boolean;
  stateJson?: Record<string, unknown>;
  files: { path: string; size: number }[];
  raw?: string;
}

/** The state as persisted in the object store (not what the bot has in memory). */
export async function storedState(h: Harness, id: string): Promise<StoredState> {
  const r = await apiJson<StoredState>(h.server.url, `/v1/bots/${id}/state`);
  if (r.status !== 200) throw new Error(`GET /v1/bots/${id}/state: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export async function logLines(h: Harness, id: string): Promise<string[]> {
  const r = await apiJson<{ entries: { line: string }[] }>(h.server.url, `/v1/bots/${id}/logs?tail=1000`);
  return r.status === 200 ? r.body.entries.map((e) => e.line) : [];
}

export async function waitRunning(h: Harness, id: string, timeoutMs = 60_000) {
  return waitFor(`${id} running`, () => h.probe.running(id), { timeoutMs });
}

export async function counterOf(h: Harness, id: string): Promise<number | undefined> {
  const s = await storedState(h, id);
  const count = s.stateJson?.count;
  return typeof count === 'number' ? count : undefined;
}

/**
 * Counts atomic replacements of a bot's `state.tar.gz` in the filesystem object store
 * (each upload is one rename onto the key), by watching the directory.
 */
export async function watchStateUploads(h: Harness, id: string): Promise<{ count(): number; close(): void }> {
  const dir = join(h.server.dataDir, 'objects', 'state', id);
  await mkdir(dir, { recursive: true });
  let count = 0;
  const watcher: FSWatcher = watch(dir, (event, name) => {
    // The filesystem store renames onto the key; the S3 test server onto `<key>._S3rver_object`.
    if (event === 'rename' && (name === 'state.tar.gz' || name === 'state.tar.gz._S3rver_object')) count++;
  });
  return { count: () => count, close: () => watcher.close() };
}

export function skipUnless(ctx: TestContext, reason: string | undefined): void {
  if (reason) ctx.skip(reason);
}

/** Full reconcile passes the service has logged so far. */
export function passCount(h: Harness): number {
  return h.server.logs().filter((l) => l.msg === 'reconcile pass done').length;
}

/** Waits until the service has run `n` more full passes than `since`. */
export async function waitPasses(h: Harness, since: number, n: number): Promise<void> {
  await waitFor(`${n} more reconcile passes`, () => passCount(h) >= since + n, { timeoutMs: 60_000 });
}

export function serviceLogFor(h: Harness, botId: string, msg: string): Array<Record<string, unknown>> {
  return h.server.logs().filter((l) => l.msg === msg && l.botId === botId);
}
