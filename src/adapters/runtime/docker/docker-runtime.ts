/**
 * The Docker Engine behind the ContainerRuntime port (DESIGN §5), through dockerode.
 * Actual state is always read back from the Engine by label; the only thing kept in
 * memory is a cache of inspect facts that lifecycle events invalidate (inspect-cache.ts).
 */
import Docker from 'dockerode';
import type { IncomingMessage } from 'node:http';
import type { BotKind } from '../../../domain/bot.js';
import { containerNameFor } from '../../../domain/container-name.js';
import { ConflictError, NotFoundError, UnavailableError, errorMessage } from '../../../domain/errors.js';
import {
  LABELS,
  type ActualContainer,
  type ContainerRuntime,
  type ContainerSpec,
  type RuntimeEvent,
  type RuntimeEventStream,
  type StopOptions,
} from '../../../ports/runtime.js';
import { createOptions } from './create-options.js';
import { statusOf, translate } from './errors.js';
import { EventFollower } from './events.js';
import { InspectCache, type InspectFacts } from './inspect-cache.js';
import { lastLines } from './log-frames.js';
import { EVENT_TYPES, factsFromInspect, fromInspect, fromListEntry, toActual, toRuntimeEvent, type ListedContainer } from './map.js';

export interface DockerRuntimeOptions {
  /** Default: DOCKER_HOST, else /var/run/docker.sock. */
  readonly docker?: Docker;
  /** Value of the `berth.instance` label this runtime creates and lists. */
  readonly instance: string;
  /**
   * The store's installation id (`berth.installation` label). Given, containers of the
   * instance that carry another one are another installation's: never listed, never
   * watched, never touched. Containers without the label (made before it existed) are
   * this installation's.
   */
  readonly installation?: string;
  /** How long ping waits for an answer. */
  readonly pingTimeoutMs?: number;
  /**
   * Keep inspect facts between lists, invalidated by a background event stream (default
   * true). Off, every list inspects every container.
   */
  readonly cacheInspects?: boolean;
}

/** Inspects in parallel, but not so many that a 100-container list floods the Engine. */
const INSPECT_CONCURRENCY = 8;

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  });
  await Promise.all(workers);
  return results;
}

export class DockerRuntime implements ContainerRuntime {
  readonly name = 'docker';
  readonly objectAccess = 'container' as const;
  readonly instance: string;
  readonly installation: string | undefined;
  private readonly docker: Docker;
  private readonly pingTimeoutMs: number;
  private readonly cache = new InspectCache();
  private cacheFollower: EventFollower | undefined;
  private readonly cacheInspects: boolean;
  private readonly followers = new Set<EventFollower>();
  private closed = false;
  private hostCpuCount: Promise<number | undefined> | undefined;

  constructor(options: DockerRuntimeOptions) {
    if (!options.instance) throw new Error('DockerRuntime needs an instance name');
    this.instance = options.instance;
    this.installation = options.installation;
    this.docker = options.docker ?? new Docker();
    this.pingTimeoutMs = options.pingTimeoutMs ?? 5000;
    this.cacheInspects = options.cacheInspects ?? true;
  }

  /** Another installation's container (see DockerRuntimeOptions.installation) is not. */
  private isOurs(labels: Readonly<Record<string, string>>): boolean {
    const theirs = labels[LABELS.installation];
    return this.installation === undefined || theirs === undefined || theirs === this.installation;
  }

  /**
   * How many containers of this instance belong to another installation: started with the
   * same `--instance` on other stores. They are left alone; the caller warns.
   */
  async foreignContainers(signal?: AbortSignal): Promise<number> {
    if (this.installation === undefined) return 0;
    try {
      const entries = await this.docker.listContainers({ all: true, filters: { label: this.labelFilters({}) }, abortSignal: signal } as Docker.ContainerListOptions);
      return entries.filter((e) => !this.isOurs(e.Labels ?? {})).length;
    } catch (err) {
      throw translate(err, 'list containers');
    }
  }

  containerName(botId: string, runId?: string): string {
    return containerNameFor(this.instance, botId, runId);
  }

  async ping(signal?: AbortSignal): Promise<void> {
    const timeout = AbortSignal.timeout(this.pingTimeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    try {
      await (this.docker.ping as (opts: object) => Promise<unknown>).call(this.docker, { abortSignal: combined });
    } catch (err) {
      if (signal?.aborted) throw err;
      const why = timeout.aborted ? `no answer within ${this.pingTimeoutMs} ms` : errorMessage(err);
      throw new UnavailableError('runtime', `Docker Engine at ${this.endpoint()} is not reachable: ${why}`, { cause: err });
    }
  }

  private endpoint(): string {
    const modem = this.docker.modem as { socketPath?: unknown; host?: string; port?: number | string };
    if (typeof modem.socketPath === 'string') return `unix://${modem.socketPath}`;
    return modem.host ? `${modem.host}:${modem.port ?? ''}` : 'the configured endpoint';
  }

  private labelFilters(filter: { kind?: BotKind; botId?: string }): string[] {
    const labels = [`${LABELS.managed}=true`, `${LABELS.instance}=${this.instance}`];
    if (filter.kind) labels.push(`${LABELS.kind}=${filter.kind}`);
    if (filter.botId) labels.push(`${LABELS.bot}=${filter.botId}`);
    return labels;
  }

  async list(filter: { kind?: BotKind; botId?: string }, signal?: AbortSignal): Promise<ActualContainer[]> {
    let entries: Docker.ContainerInfo[];
    try {
      entries = await this.docker.listContainers({
        all: true,
        filters: { label: this.labelFilters(filter) },
        abortSignal: signal,
      } as Docker.ContainerListOptions);
    } catch (err) {
      throw translate(err, 'list containers');
    }
    this.ensureCacheFollower();
    const listed = entries.map(fromListEntry).filter((c) => this.isOurs(c.labels));
    // Only an unfiltered list sees every container of this instance.
    if (!filter.kind && !filter.botId) this.cache.retain(new Set(listed.map((c) => c.id)));
    const actual = await mapLimit(listed, INSPECT_CONCURRENCY, async (c) => {
      const facts = await this.factsFor(c, signal);
      return facts ? toActual(c, facts) : undefined;
    });
    return actual.filter((c): c is ActualContainer => c !== undefined);
  }

  /** Undefined when the container vanished between list and inspect. */
  private async factsFor(c: ListedContainer, signal?: AbortSignal): Promise<InspectFacts | undefined> {
    const cached = this.cache.get(c.id, c.state);
    if (cached) return cached;
    const token = this.cache.token(c.id);
    try {
      const info = await this.docker.getContainer(c.id).inspect({ abortSignal: signal } as object);
      const facts = factsFromInspect(info);
      this.cache.put(c.id, c.state, facts, token);
      return facts;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw translate(err, `inspect container ${c.id}`);
    }
  }

  /**
   * The event stream behind the inspect cache. Its socket is unref'd: a process that
   * forgets close() is not kept alive by an optimisation.
   */
  private ensureCacheFollower(): void {
    if (!this.cacheInspects || this.cacheFollower || this.closed) return;
    this.cacheFollower = new EventFollower(this.docker, {
      filters: { label: [`${LABELS.managed}=true`, `${LABELS.instance}=${this.instance}`] },
      onEvent: (event) => {
        const id = event.Actor?.ID ?? event.id;
        if (!id) return;
        if (event.Action === 'destroy') this.cache.forget(id);
        else this.cache.invalidate(id);
      },
      onConnected: () => this.cache.trust(),
      onDisconnected: () => this.cache.distrust(),
      onStream: (stream) => (stream as IncomingMessage).socket?.unref(),
    }).start();
  }

  async start(spec: ContainerSpec, signal?: AbortSignal): Promise<ActualContainer> {
    const body = createOptions(spec, this.instance, await this.hostCpus(signal), this.installation);
    const { name, ...rest } = body;
    let container: Docker.Container;
    try {
      // Name in the query, everything else only in the body: dockerode would otherwise put
      // the whole request — environment included — into the URL as well, where it could be
      // logged and where a large BOT_CONFIG would overflow the request line.
      container = await this.docker.createContainer({ _query: { name }, _body: rest, abortSignal: signal } as unknown as Docker.ContainerCreateOptions);
    } catch (err) {
      const status = statusOf(err);
      if (status === 409) throw new ConflictError(await this.nameTakenMessage(spec.name), { cause: err });
      if (status === 404 && /image/i.test(errorMessage(err))) {
        throw new NotFoundError(`image ${spec.image} not found: build it with \`berth image build\``, { cause: err });
      }
      throw translate(err, `create container ${spec.name}`);
    }
    try {
      await container.start({ abortSignal: signal } as object);
      const info = await container.inspect({ abortSignal: signal } as object);
      const actual = fromInspect(info);
      if (!actual) throw new Error(`container ${spec.name} lost its labels`);
      return actual;
    } catch (err) {
      // No orphans: a container that did not start is removed (without the caller's
      // signal, which may be the reason we are here).
      await container.remove({ force: true, v: true }).catch(() => undefined);
      throw translate(err, `start container ${spec.name}`);
    }
  }

  /** The Engine's CPU count, asked once; unknown (no clamping) if the Engine does not say. */
  private hostCpus(signal?: AbortSignal): Promise<number | undefined> {
    this.hostCpuCount ??= (this.docker.info as (opts: object) => Promise<{ NCPU?: unknown }>)
      .call(this.docker, { abortSignal: signal })
      .then((info) => (typeof info.NCPU === 'number' ? info.NCPU : undefined))
      .catch(() => {
        this.hostCpuCount = undefined; // asked again on the next start
        return undefined;
      });
    return this.hostCpuCount;
  }

  /**
   * Say who holds the name. Names carry the instance (containerNameFor), so another Berth
   * installation holds one only with a container made before they did, named
   * `berth-<id>` whatever its instance; otherwise it is someone else's container.
   */
  private async nameTakenMessage(name: string): Promise<string> {
    const base = `a container named ${name} exists already`;
    try {
      const labels = (await this.docker.getContainer(name).inspect()).Config?.Labels ?? {};
      const owner = labels[LABELS.instance];
      if (labels[LABELS.managed] !== 'true' || owner === undefined) return `${base} and is not Berth's: remove or rename it (docker rm -f ${name}), or deploy under another id`;
      if (owner !== this.instance) {
        return `${base}: it belongs to the Berth installation with instance "${owner}" on this Docker Engine (this one is "${this.instance}"); remove the bot there (berth rm), or deploy under another id`;
      }
      if (!this.isOurs(labels)) {
        return `${base}: it belongs to another Berth installation (another store) that also runs as instance "${owner}" on this Docker Engine; give one of them its own --instance, or deploy under another id`;
      }
      return base;
    } catch {
      return base;
    }
  }

  async stop(containerId: string, options: StopOptions, signal?: AbortSignal): Promise<void> {
    try {
      await this.docker.getContainer(containerId).stop({ t: Math.max(0, Math.round(options.graceSeconds)), abortSignal: signal } as object);
    } catch (err) {
      const status = statusOf(err);
      if (status === 304 || status === 404) return;
      throw translate(err, `stop container ${containerId}`);
    }
  }

  async remove(containerId: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.docker.getContainer(containerId).remove({ force: true, v: true, abortSignal: signal } as object);
    } catch (err) {
      const status = statusOf(err);
      // 409: a removal is already in progress — the outcome the caller wants.
      if (status !== 404 && status !== 409) throw translate(err, `remove container ${containerId}`);
    } finally {
      this.cache.forget(containerId);
    }
  }

  async tail(containerId: string, lines: number, signal?: AbortSignal): Promise<string[]> {
    if (lines <= 0) return [];
    try {
      const raw = (await this.docker.getContainer(containerId).logs({
        stdout: true,
        stderr: true,
        follow: false,
        tail: lines,
        abortSignal: signal,
      } as Docker.ContainerLogsOptions & { follow: false })) as unknown;
      const buffer = Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw ?? ''), 'utf8');
      return lastLines(buffer, lines);
    } catch (err) {
      throw translate(err, `logs of container ${containerId}`);
    }
  }

  async wait(containerId: string, signal?: AbortSignal): Promise<number> {
    try {
      const result = (await this.docker.getContainer(containerId).wait({ condition: 'not-running', abortSignal: signal } as object)) as {
        StatusCode?: number;
      };
      return result.StatusCode ?? -1;
    } catch (err) {
      throw translate(err, `wait for container ${containerId}`);
    }
  }

  watch(handler: (event: RuntimeEvent) => void): RuntimeEventStream {
    const follower = new EventFollower(this.docker, {
      filters: { label: [`${LABELS.managed}=true`, `${LABELS.instance}=${this.instance}`], event: EVENT_TYPES },
      onEvent: (event) => {
        if (!this.isOurs(event.Actor?.Attributes ?? {})) return;
        const mapped = toRuntimeEvent(event);
        if (mapped) handler(mapped);
      },
    });
    this.followers.add(follower);
    if (!this.closed) follower.start();
    return {
      stop: () => {
        follower.stop();
        this.followers.delete(follower);
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cacheFollower?.stop();
    for (const follower of this.followers) follower.stop();
    this.followers.clear();
  }
}
