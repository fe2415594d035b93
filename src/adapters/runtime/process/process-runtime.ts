/**
 * Container runtime on local processes (DESIGN §2): the development fallback where no
 * Docker Engine is reachable. Each "container" is a directory plus a detached shim process
 * (see shim.ts and layout.ts) that runs bootstrap.sh — or the spec's command — restarts it
 * with Docker's back-off, and records its status on disk. Everything is read back from
 * disk, so a new ProcessRuntime (a restarted `berth serve`) adopts the running bots, and
 * dropping or closing one never stops them.
 *
 * No isolation: the bot runs as the same user as `berth serve`, with the same filesystem
 * and network; resource limits, mounts and network mode of the spec are not applied.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BotKind } from '../../../domain/bot.js';
import { DEFAULT_INSTANCE, containerNameFor } from '../../../domain/container-name.js';
import { BerthError, ConflictError, NotFoundError, UnavailableError, ValidationError, errorMessage, throwIfAborted } from '../../../domain/errors.js';
import type {
  ActualContainer,
  ContainerRuntime,
  ContainerSpec,
  RuntimeEvent,
  RuntimeEventStream,
  StopOptions,
} from '../../../ports/runtime.js';
import { LOST_EXIT_CODE, observe, observeAll, toActual, type ObservedContainer, type StoredSpec } from './containers.js';
import { watchEvents } from './events.js';
import { BOOTSTRAP_FILE, buildLaunchPlan, findOnPath } from './launch.js';
import {
  CONTAINER_NAME_PATTERN,
  DEFAULT_LOG_CAP,
  containerPaths,
  writeFileAtomic,
  writeStatus,
  type ContainerPaths,
  type ShimStatus,
  type StopRequest,
} from './layout.js';
import { isSameProcessAlive, signalGroup, signalProcess } from './proc.js';
import { untilStatus } from './status-changes.js';
import { tailLines } from './tail.js';

export interface ProcessRuntimeOptions {
  /** Where containers live, e.g. `<berth data dir>/processes`. */
  readonly dataDir: string;
  readonly instance: string;
  /** Holds bootstrap.sh and berth-daemon.cjs; default: the package's dist/daemon. */
  readonly daemonDir?: string;
  /** Default: the first `python3.11` on PATH. */
  readonly pythonPath?: string;
  /** Default: the Node running Berth. */
  readonly nodePath?: string;
  /** Safety-net poll of watch(); default 2 s. */
  readonly pollMs?: number;
}

/** What `berth serve` should tell its user when it falls back to this runtime. */
export const PROCESS_RUNTIME_NOTICE =
  'no Docker Engine reachable: running bots as local processes (development fallback: no isolation, ' +
  'no resource limits, bots run as the current user)';

const DEPENDENCY = 'process runtime';
/** How long a freshly spawned shim may take to start its child (tsx in development is slow). */
const SHIM_START_TIMEOUT_MS = 20_000;
/** Beyond the grace period, how long a stopping shim may take before it is killed. */
const SHIM_STOP_SLACK_MS = 5_000;
const PROCESS_EXIT_TIMEOUT_MS = 3_000;
const CREATING_PREFIX = '.creating-';
const REMOVED_PREFIX = '.removed-';
const LEFTOVER_AGE_MS = 10 * 60_000;

const here = path.dirname(fileURLToPath(import.meta.url));

export class ProcessRuntime implements ContainerRuntime {
  readonly name = 'process';
  readonly objectAccess = 'host' as const;
  private readonly instanceDir: string;
  private readonly daemonDir: string;
  private readonly nodePath: string;
  private readonly pythonPath: string | undefined;
  private readonly pollMs: number;
  private readonly streams = new Set<RuntimeEventStream>();

  constructor(options: ProcessRuntimeOptions) {
    if (!CONTAINER_NAME_PATTERN.test(options.instance)) {
      throw ValidationError.single('instance', `must match ${CONTAINER_NAME_PATTERN}`);
    }
    this.instanceDir = path.resolve(options.dataDir, options.instance);
    // src/adapters/runtime/process and dist/adapters/runtime/process are both four levels down.
    this.daemonDir = path.resolve(options.daemonDir ?? path.join(here, '../../../../dist/daemon'));
    this.nodePath = options.nodePath ?? process.execPath;
    this.pythonPath = options.pythonPath ?? findOnPath('python3.11', process.env.PATH);
    this.pollMs = options.pollMs ?? 2_000;
  }

  /** Each instance has a directory of its own, so names need no instance in them. */
  containerName(botId: string, runId?: string): string {
    return containerNameFor(DEFAULT_INSTANCE, botId, runId);
  }

  async ping(signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    const probe = path.join(this.instanceDir, `.ping-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await mkdir(this.instanceDir, { recursive: true });
      await writeFile(probe, '');
      await unlink(probe);
      await this.sweepLeftovers();
    } catch (err) {
      throw new UnavailableError(DEPENDENCY, `data directory ${this.instanceDir} is not writable: ${errorMessage(err)}`, { cause: err });
    }
  }

  async list(filter: { kind?: BotKind; botId?: string }, signal?: AbortSignal): Promise<ActualContainer[]> {
    throwIfAborted(signal);
    const all = await this.observeAll();
    return all
      .map(toActual)
      .filter((c) => (filter.kind === undefined || c.kind === filter.kind) && (filter.botId === undefined || c.botId === filter.botId));
  }

  async start(spec: ContainerSpec, signal?: AbortSignal): Promise<ActualContainer> {
    throwIfAborted(signal);
    if (!CONTAINER_NAME_PATTERN.test(spec.name)) throw ValidationError.single('name', `must match ${CONTAINER_NAME_PATTERN}`);
    const shimArgs = shimArguments();
    if (spec.command === undefined) this.assertDaemonBuilt();
    const paths = containerPaths(this.instanceDir, spec.name);
    const id = randomBytes(16).toString('hex');
    await this.createContainerDirectory(id, spec, paths);
    let shimPid: number | undefined;
    try {
      const shim = spawn(process.execPath, [...shimArgs, paths.dir], {
        detached: true,
        stdio: 'ignore',
        cwd: paths.dir,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      });
      shim.unref();
      shimPid = shim.pid;
      let shimExit: string | undefined;
      shim.once('error', (err) => (shimExit = err.message));
      shim.once('exit', (code, sig) => (shimExit = `exited with ${sig ?? code}`));
      const started = await untilStatus(
        this.instanceDir,
        spec.name,
        () => {
          const observed = observe(paths);
          if (observed !== undefined && observed.status.state !== 'created') return observed;
          if (shimExit !== undefined) throw new UnavailableError(DEPENDENCY, `shim for ${spec.name} ${shimExit}: ${this.shimDiagnostics(paths)}`);
          return undefined;
        },
        {
          timeoutMs: SHIM_START_TIMEOUT_MS,
          ...(signal ? { signal } : {}),
          onTimeout: () => new UnavailableError(DEPENDENCY, `shim for ${spec.name} did not start its process within ${SHIM_START_TIMEOUT_MS} ms`),
        },
      );
      return toActual(started);
    } catch (err) {
      // Either a started container or nothing: no half-made directory blocks the name.
      if (shimPid !== undefined) await this.killEverything(paths, shimPid);
      await rm(paths.dir, { recursive: true, force: true });
      await rm(paths.statusTemp, { force: true });
      if (err instanceof BerthError || signal?.aborted) throw err;
      throw new UnavailableError(DEPENDENCY, `cannot start ${spec.name}: ${errorMessage(err)}`, { cause: err });
    }
  }

  async stop(containerId: string, options: StopOptions, signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    const container = await this.find(containerId);
    if (container !== undefined) await this.stopContainer(container, options.graceSeconds, signal);
  }

  async remove(containerId: string, signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    const container = await this.find(containerId);
    if (container === undefined) return;
    await this.stopContainer(container, 0, signal);
    const { paths } = container;
    const latest = observe(paths);
    if (latest !== undefined) await this.killEverything(paths, latest.status.shimPid, latest.status.shimIdentity);
    // Rename first: the name is free at once, and list() never sees a half-deleted directory.
    const trash = path.join(this.instanceDir, `${REMOVED_PREFIX}${paths.name}-${randomBytes(4).toString('hex')}`);
    try {
      await rename(paths.dir, trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // removed concurrently
      throw new UnavailableError(DEPENDENCY, `cannot remove ${paths.name}: ${errorMessage(err)}`, { cause: err });
    }
    await rm(trash, { recursive: true, force: true });
    await rm(paths.statusTemp, { force: true });
  }

  async tail(containerId: string, lines: number, signal?: AbortSignal): Promise<string[]> {
    throwIfAborted(signal);
    const container = await this.get(containerId);
    return tailLines(container.paths.log, DEFAULT_LOG_CAP.maxFiles, lines);
  }

  async wait(containerId: string, signal?: AbortSignal): Promise<number> {
    throwIfAborted(signal);
    const container = await this.get(containerId);
    const { paths, stored } = container;
    return untilStatus(
      this.instanceDir,
      paths.name,
      () => {
        const latest = observe(paths);
        if (latest === undefined || latest.stored.id !== stored.id) throw new NotFoundError(`container ${containerId} was removed`);
        if (latest.state !== 'exited' && latest.state !== 'dead') return undefined;
        return latest.status.exitCode ?? LOST_EXIT_CODE;
      },
      { pollMs: 500, ...(signal ? { signal } : {}) },
    );
  }

  watch(handler: (event: RuntimeEvent) => void): RuntimeEventStream {
    try {
      // fs.watch needs the directory to exist; without it the first events wait for a poll.
      mkdirSync(this.instanceDir, { recursive: true });
    } catch {
      // ping() reports an unusable data directory; the poll keeps trying.
    }
    const inner = watchEvents(this.instanceDir, this.pollMs, handler);
    const stream: RuntimeEventStream = {
      stop: () => {
        inner.stop();
        this.streams.delete(stream);
      },
    };
    this.streams.add(stream);
    return stream;
  }

  /** Stops event streams only: the bots keep running, supervised by their shims. */
  async close(): Promise<void> {
    for (const stream of [...this.streams]) stream.stop();
  }

  private async observeAll(): Promise<ObservedContainer[]> {
    try {
      return await observeAll(this.instanceDir);
    } catch (err) {
      throw new UnavailableError(DEPENDENCY, `cannot read ${this.instanceDir}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** By name (as Docker accepts) or by id. */
  private async find(containerId: string): Promise<ObservedContainer | undefined> {
    if (CONTAINER_NAME_PATTERN.test(containerId)) {
      const byName = observe(containerPaths(this.instanceDir, containerId));
      if (byName !== undefined) return byName;
    }
    return (await this.observeAll()).find((c) => c.stored.id === containerId);
  }

  private async get(containerId: string): Promise<ObservedContainer> {
    const container = await this.find(containerId);
    if (container === undefined) throw new NotFoundError(`no container ${containerId}`);
    return container;
  }

  private assertDaemonBuilt(): void {
    const bootstrap = path.join(this.daemonDir, BOOTSTRAP_FILE);
    if (!existsSync(bootstrap)) {
      throw new UnavailableError(DEPENDENCY, `${bootstrap} is missing (run \`npm run build\`)`);
    }
  }

  /**
   * Builds the directory under a temporary name and renames it into place: a container
   * exists exactly when its directory does, complete, and the rename is the atomic
   * test-and-set that keeps names unique (it fails on an existing, non-empty directory).
   */
  private async createContainerDirectory(id: string, spec: ContainerSpec, paths: ContainerPaths): Promise<void> {
    if (existsSync(paths.dir)) throw new ConflictError(`a container named ${paths.name} already exists`);
    const temp = path.join(this.instanceDir, `${CREATING_PREFIX}${paths.name}-${randomBytes(4).toString('hex')}`);
    try {
      await mkdir(this.instanceDir, { recursive: true });
      await mkdir(temp, { mode: 0o700 });
      for (const dir of [paths.botDir, paths.stateDir, paths.workDir]) await mkdir(path.join(temp, path.basename(dir)));
      const plan = buildLaunchPlan(spec, paths, {
        daemonDir: this.daemonDir,
        nodePath: this.nodePath,
        pythonPath: this.pythonPath,
        hostEnv: process.env,
      });
      const status: ShimStatus = { id, state: 'created', restartCount: 0, createdAt: new Date().toISOString() };
      const stored: StoredSpec = { id, instance: path.basename(this.instanceDir), spec };
      await writeFile(path.join(temp, path.basename(paths.launch)), JSON.stringify(plan), { mode: 0o600 });
      await writeFile(path.join(temp, path.basename(paths.status)), JSON.stringify(status), { mode: 0o644 });
      await writeFile(path.join(temp, path.basename(paths.spec)), JSON.stringify(stored), { mode: 0o600 });
    } catch (err) {
      await rm(temp, { recursive: true, force: true });
      throw new UnavailableError(DEPENDENCY, `cannot create ${paths.dir}: ${errorMessage(err)}`, { cause: err });
    }
    try {
      await rename(temp, paths.dir);
    } catch (err) {
      await rm(temp, { recursive: true, force: true });
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') throw new ConflictError(`a container named ${paths.name} already exists`, { cause: err });
      throw new UnavailableError(DEPENDENCY, `cannot create ${paths.dir}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Leftovers of a start or remove that was killed half-way; old enough to be nobody's work in progress. */
  private async sweepLeftovers(): Promise<void> {
    let entries: string[];
    try {
      entries = await readdir(this.instanceDir);
    } catch {
      return;
    }
    for (const entry of entries) {
      if (!entry.startsWith(CREATING_PREFIX) && !entry.startsWith(REMOVED_PREFIX)) continue;
      const full = path.join(this.instanceDir, entry);
      try {
        if (Date.now() - (await stat(full)).mtimeMs > LEFTOVER_AGE_MS) await rm(full, { recursive: true, force: true });
      } catch {
        // gone already, or not ours to delete: the next sweep tries again
      }
    }
  }

  private async stopContainer(container: ObservedContainer, graceSeconds: number, signal?: AbortSignal): Promise<void> {
    const { paths, status } = container;
    if (container.state === 'exited') return;
    if (container.state === 'created' && status.shimPid === undefined) return; // never started
    if (container.shimAlive && status.shimPid !== undefined) {
      const request: StopRequest = { graceSeconds };
      writeFileAtomic(paths.stopRequest, JSON.stringify(request), 0o600);
      signalProcess(status.shimPid, 'SIGTERM');
      try {
        await untilStatus(
          this.instanceDir,
          paths.name,
          () => {
            const latest = observe(paths);
            return latest === undefined || latest.state === 'exited' || latest.state === 'dead' ? true : undefined;
          },
          { timeoutMs: graceSeconds * 1000 + SHIM_STOP_SLACK_MS, ...(signal ? { signal } : {}), onTimeout: () => new Error('shim did not stop') },
        );
      } catch (err) {
        if (signal?.aborted) throw err;
        // An unresponsive shim: handled below like a dead one.
      }
    }
    const latest = observe(paths);
    if (latest === undefined || latest.state === 'exited') return;
    await this.stopWithoutShim(latest, graceSeconds);
  }

  /**
   * The shim is dead (reboot, kill -9) or unresponsive: stop what may be left of the
   * container ourselves, then record the exit the shim could not.
   */
  private async stopWithoutShim(container: ObservedContainer, graceSeconds: number): Promise<void> {
    const { paths, status } = container;
    await this.killProcess(status.shimPid, status.shimIdentity);
    let exitCode = status.exitCode ?? LOST_EXIT_CODE;
    if (isSameProcessAlive(status.childPid, status.childIdentity) && status.childPid !== undefined) {
      signalProcess(status.childPid, 'SIGTERM');
      const ended = await processGone(status.childPid, status.childIdentity, graceSeconds * 1000);
      signalGroup(status.childPid, 'SIGKILL');
      exitCode = ended ? 143 : 137;
    }
    const final: ShimStatus = { ...status, state: 'exited', stopRequested: true, exitCode, finishedAt: new Date().toISOString() };
    writeStatus(paths, final);
  }

  /** SIGKILL the shim and the container's process group, and wait until they are gone. */
  private async killEverything(paths: ContainerPaths, shimPid: number | undefined, shimIdentity?: string): Promise<void> {
    await this.killProcess(shimPid, shimIdentity);
    let status: ShimStatus | undefined;
    try {
      status = observe(paths)?.status;
    } catch {
      status = undefined;
    }
    if (status?.childPid !== undefined && isSameProcessAlive(status.childPid, status.childIdentity)) {
      signalGroup(status.childPid, 'SIGKILL');
      await processGone(status.childPid, status.childIdentity, PROCESS_EXIT_TIMEOUT_MS);
    }
  }

  private async killProcess(pid: number | undefined, identity: string | undefined): Promise<void> {
    if (pid === undefined || !isSameProcessAlive(pid, identity)) return;
    // Give a shim that is finishing on its own a moment, then insist.
    if (await processGone(pid, identity, 1_000)) return;
    signalProcess(pid, 'SIGKILL');
    await processGone(pid, identity, PROCESS_EXIT_TIMEOUT_MS);
  }

  private shimDiagnostics(paths: ContainerPaths): string {
    try {
      return readFileSync(paths.shimLog, 'utf8').trim().split('\n').slice(-5).join(' | ') || 'no diagnostics';
    } catch {
      return 'no diagnostics';
    }
  }
}

/** Polls until the process has gone (true) or the time is up (false). */
async function processGone(pid: number, identity: string | undefined, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isSameProcessAlive(pid, identity)) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return true;
}

/** The shim's command line after `node`: compiled JS in dist/, or the TS source through tsx in development. */
function shimArguments(): string[] {
  const compiled = path.join(here, 'shim.js');
  if (existsSync(compiled)) return [compiled];
  const source = path.join(here, 'shim.ts');
  if (existsSync(source)) {
    const tsx = createRequire(import.meta.url).resolve('tsx');
    return ['--import', pathToFileURL(tsx).href, source];
  }
  throw new UnavailableError(DEPENDENCY, `the process shim is missing next to ${here} (run \`npm run build\`)`);
}
