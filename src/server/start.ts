/**
 * The composition root (DESIGN §1, §2): opens the adapters the settings name, picks the
 * runtime, makes sure the bot image exists, and starts BotService and the HTTP API —
 * all of them (`berth serve`) or one side (`berth bot-runner`, `berth api`).
 * `stop()` stops the services and closes the adapters; bots keep running.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createApi } from '../api/index.js';
import { inspectPackage } from '../archive/index.js';
import type { PackageLimits } from '../archive/types.js';
import { ConfigError } from '../config/errors.js';
import { formatListen, isLoopback } from '../config/listen.js';
import type { ServerConfig } from '../config/load.js';
import { SETTINGS, type SettingKey } from '../config/settings.js';
import { BotService } from '../core/bot-service.js';
import { realClock } from '../core/clock.js';
import { LogRetention } from '../core/log-retention.js';
import type { ScheduleService } from '../core/schedule-service.js';
import { LogReader, StateReader } from '../core/queries/index.js';
import { BotRegistry } from '../core/registry/bot-registry.js';
import { UnavailableError, ValidationError, errorMessage } from '../domain/errors.js';
import type { DependencyHealth } from '../domain/status.js';
import type { NatsConnectionEvent } from '../adapters/events/nats/nats-event-bus.js';
import { redact as redactNats } from '../adapters/events/nats/url.js';
import { openEventBus } from '../adapters/events/open.js';
import { openObjectStore, redactObjectStoreUrl } from '../adapters/objects/open.js';
import { redact as redactMongo } from '../adapters/store/mongodb/url.js';
import { openStore } from '../adapters/store/open.js';
import type { EventBus } from '../ports/events.js';
import type { ObjectStore } from '../ports/objects.js';
import type { ContainerRuntime } from '../ports/runtime.js';
import type { DesiredStateStore } from '../ports/store.js';
import { stderrAnnounce, type Announce } from './announce.js';
import { checkDockerNetwork, ensureDockerImage, processImageName } from './image.js';
import { createLogger, flushLogger, type ServerLogger } from './logger.js';
import { listenError, preflight, prepareDirectories, processRuntimeDirectory, type ListenReservation } from './preflight.js';
import { selectRuntime } from './runtime.js';
import { startScheduler } from './scheduler.js';

export type ServerRole = 'serve' | 'bot-runner' | 'bot-scheduler' | 'api';

export interface StartServerOptions {
  /** Which pieces run; default `serve` (all). */
  readonly role?: ServerRole;
  /** Lines for people at start-up; default stderr. */
  readonly announce?: Announce;
  readonly logger?: ServerLogger;
  /** JSON log to this file instead of stdout. */
  readonly logFile?: string;
  readonly signal?: AbortSignal;
}

export interface RunningServer {
  /** `http://127.0.0.1:7070` when the API runs. */
  readonly url?: string;
  /** `docker` or `process` when BotService runs. */
  readonly runtime?: string;
  readonly image?: string;
  readonly logger: ServerLogger;
  readonly botService?: BotService;
  /** `serve` and `bot-scheduler` only. */
  readonly scheduleService?: ScheduleService;
  /** The runtime adapter BotService uses (the demo waits on it). */
  readonly containers?: ContainerRuntime;
  /** Stops services, closes adapters; bots keep running. Idempotent. */
  stop(): Promise<void>;
}

/** Largest bot package accepted by the API. */
export const PACKAGE_BODY_LIMIT_BYTES = 256 * 1024 * 1024;

const VERSION = readPackageVersion();

export async function startServer(config: ServerConfig, options: StartServerOptions = {}): Promise<RunningServer> {
  const role = options.role ?? 'serve';
  const announce = options.announce ?? stderrAnnounce;
  const withApi = role === 'serve' || role === 'api';
  // Before anything opens or starts — the logger too (`berth demo` logs into the data dir):
  // a taken listen address or an unusable directory is a settings error, and nothing is
  // left half started. The address stays held until the API listens on it.
  const reservation = await preflight(config, withApi);
  const logger = options.logger ?? createLogger(config.logLevel, options.logFile);
  const closers: (() => Promise<void>)[] = [() => reservation.release()];
  const closeAll = async () => {
    for (const close of closers.reverse()) {
      await close().catch((err: unknown) => logger.warn({ err }, 'error while shutting down'));
    }
    flushLogger(logger);
  };

  try {
    const { store, objects, events } = await openAdapters(config, closers, { role, logger, announce, signal: options.signal });
    // Credentials in the URLs (MongoDB password, S3 keys, NATS user/token) never reach the log.
    logger.info(
      { role, store: redactMongo(config.store), objects: redactObjectStoreUrl(config.objects), events: redactNats(config.events), dataDir: config.dataDir },
      'adapters opened',
    );
    if (role !== 'serve' && config.events.startsWith('memory:')) {
      announce(
        `events are in-process (${SETTINGS.events.env}=memory:): ` +
          (role === 'api'
            ? 'a separate bot-runner sees changes made here only at its next full reconcile.'
            : `changes made through a separate API process are seen at the next full reconcile (every ${config.intervalMs / 1000} s).`) +
          ' Use a shared bus (nats://…) to react at once.',
      );
    }

    let botService: BotService | undefined;
    let scheduleService: ScheduleService | undefined;
    let runtime: ContainerRuntime | undefined;
    let image: string | undefined;
    if (role !== 'api') {
      const selected = await selectRuntime(config, await store.installationId(options.signal));
      runtime = selected.runtime;
      closers.push(() => selected.runtime.close());
      if (runtime.name === 'process') await prepareDirectories(config, [processRuntimeDirectory(config)]);
      if (selected.fallbackReason) {
        const warning =
          `WARNING: bots run as local processes WITHOUT container isolation (no resource limits, same user and network as Berth), ` +
          `because Docker was not used: ${selected.fallbackReason}. ` +
          `Start Docker for isolation, or choose this explicitly with --runtime process.`;
        announce(warning);
        logger.warn({ reason: selected.fallbackReason }, 'falling back to the process runtime: bots run without container isolation');
      }
      await runtime.ping(options.signal);
      if (selected.foreignContainers) {
        const warning =
          `WARNING: ${selected.foreignContainers} container(s) of instance "${config.instance}" on this Docker Engine belong to another Berth installation ` +
          `(another store and data dir); they are left alone, but bots with the same id cannot run in both. Give each installation its own --instance.`;
        announce(warning);
        logger.warn({ instance: config.instance, containers: selected.foreignContainers }, 'containers of another installation with the same instance');
      }
      if (selected.docker) {
        const problem = await checkDockerNetwork(selected.docker, config.network);
        if (problem) {
          throw new ConfigError([
            { setting: 'network', source: config.sources.network, value: JSON.stringify(config.network), problem, accepted: SETTINGS.network.accepted },
          ]);
        }
      }
      image = selected.docker
        ? await ensureDockerImage(selected.docker, config.image, announce, options.signal)
        : await processImageName();
      if (role !== 'bot-scheduler') {
        botService = new BotService({
          store,
          objects,
          events,
          runtime,
          image,
          networkMode: config.network,
          intervalMs: config.intervalMs,
          graceSeconds: config.graceSeconds,
          logger,
        });
        const service = botService;
        closers.push(() => service.stop());
      }
      announce(
        runtime.name === 'docker'
          ? `runtime: docker (image ${image}, network ${config.network}, instance ${config.instance})`
          : `runtime: process (bots run under ${path.join(config.dataDir, 'processes', config.instance)})`,
      );
      if (botService) {
        await botService.start();
        logger.info({ runtime: runtime.name, image, intervalMs: config.intervalMs }, 'bot service started');
      }
      if (role === 'serve' || role === 'bot-scheduler') {
        scheduleService = await startScheduler({ config, store, objects, events, runtime, image, logger, closers });
      }
    }

    let url: string | undefined;
    if (withApi) {
      url = await startApi(config, { store, objects, events, logger, closers, botService, scheduleService, runtimeName: runtime?.name ?? 'none', reservation });
      announce(`API listening on ${url}${config.apiToken ? ' (bearer token required)' : ''}`);
      startLogRetention(config, { store, objects, logger, closers });
      if (!isLoopback(config.listen.host)) announce(`the API is reachable from other machines at ${formatListen(config.listen)}`);
    }

    let stopping: Promise<void> | undefined;
    return {
      ...(url ? { url } : {}),
      ...(runtime ? { runtime: runtime.name } : {}),
      ...(image ? { image } : {}),
      ...(botService ? { botService } : {}),
      ...(scheduleService ? { scheduleService } : {}),
      ...(runtime ? { containers: runtime } : {}),
      logger,
      stop: () => (stopping ??= closeAll()),
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/**
 * With the API, which every deployment has: each API process sweeps, which is harmless
 * (a deleted day is deleted once) and needs no election.
 */
function startLogRetention(
  config: ServerConfig,
  deps: { store: DesiredStateStore; objects: ObjectStore; logger: ServerLogger; closers: (() => Promise<void>)[] },
): void {
  if (config.logRetentionDays === 'forever') return;
  const retention = new LogRetention({
    store: deps.store,
    objects: deps.objects,
    clock: realClock,
    log: deps.logger.child({ component: 'log-retention' }),
    retentionDays: config.logRetentionDays,
  });
  retention.start();
  deps.closers.push(() => retention.stop());
}

interface Adapters {
  readonly store: DesiredStateStore;
  readonly objects: ObjectStore;
  readonly events: EventBus;
}

interface OpenContext {
  readonly role: ServerRole;
  readonly logger: ServerLogger;
  readonly announce: Announce;
  readonly signal: AbortSignal | undefined;
}

async function openAdapters(config: ServerConfig, closers: (() => Promise<void>)[], ctx: OpenContext): Promise<Adapters> {
  const store = asConfigError(config, 'store', () => openStore(config.store));
  closers.push(() => store.close());
  await store.init();
  const objects = asConfigError(config, 'objects', () => openObjectStore(config.objects));
  closers.push(() => objects.close());
  await objects.init();
  const events = asConfigError(config, 'events', () =>
    openEventBus(config.events, {
      name: `berth ${ctx.role} ${process.pid}`,
      onHandlerError: (err, subject) => ctx.logger.warn({ err, subject }, 'event handler failed'),
      onConnectionEvent: (event) => logBusEvent(ctx.logger, event),
    }),
  );
  closers.push(() => events.close());
  try {
    await events.init(ctx.signal);
  } catch (err) {
    if (!(err instanceof UnavailableError)) throw err;
    // A shared bus that is not up yet is no reason to refuse to start: the timer converges.
    ctx.announce(`WARNING: ${errorMessage(err)}; until it answers, changes made by other processes are seen at the next full reconcile.`);
  }
  return { store, objects, events };
}

/** Connection changes of a shared bus: a lost connection is a warning, never a failure. */
function logBusEvent(logger: ServerLogger, event: NatsConnectionEvent): void {
  switch (event.type) {
    case 'connected':
      logger.info({ server: event.server, reconnect: event.reconnect }, event.reconnect ? 'event bus reconnected' : 'event bus connected');
      break;
    case 'disconnected':
      logger.warn({ server: event.server }, 'event bus disconnected; reconnecting (changes converge at the timer meanwhile)');
      break;
    case 'connect-failed':
      // Every attempt at first, then every tenth: a bus that stays away must not flood the log.
      if (event.attempt <= 3 || event.attempt % 10 === 0) logger.warn({ err: event.err, attempt: event.attempt }, 'event bus not reachable yet');
      break;
    case 'error':
      logger.warn({ err: event.err }, 'event bus error');
      break;
  }
}

/** An adapter refusing its URL is a bad setting: say where the setting came from. */
function asConfigError<T>(config: ServerConfig, key: SettingKey, open: () => T): T {
  try {
    return open();
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    throw new ConfigError(
      [
        {
          setting: key,
          source: config.sources[key],
          problem: err.issues.map((i) => i.message).join('; ') || errorMessage(err),
          accepted: SETTINGS[key].accepted,
        },
      ],
      { cause: err },
    );
  }
}

interface ApiDeps extends Adapters {
  readonly logger: ServerLogger;
  readonly closers: (() => Promise<void>)[];
  readonly botService: BotService | undefined;
  readonly scheduleService: ScheduleService | undefined;
  readonly runtimeName: string;
  readonly reservation: ListenReservation;
}

async function startApi(config: ServerConfig, deps: ApiDeps): Promise<string> {
  const { store, objects, events, logger } = deps;
  const registry = new BotRegistry<Partial<PackageLimits>>({
    store,
    objects,
    events,
    limits: {},
    inspect: (file, limits) => inspectPackage(file, limits),
    onWarning: (message, err) => logger.warn({ err }, message),
  });
  const logs = new LogReader({ objects });
  // Created and checked by preflight().
  const uploadDir = path.join(config.dataDir, 'uploads');
  const app = createApi({
    registry,
    logs,
    state: new StateReader({ objects }),
    store,
    events,
    ...(deps.scheduleService ? { scheduler: deps.scheduleService } : {}),
    health: () => health(deps),
    runtimeName: deps.runtimeName,
    ...(config.apiToken ? { token: config.apiToken } : {}),
    bodyLimitBytes: PACKAGE_BODY_LIMIT_BYTES,
    uploadDir,
    // fastify logs every request at info; that is noise unless someone is debugging.
    logger: logger.child({ component: 'api' }, { level: ['debug', 'trace'].includes(config.logLevel) ? config.logLevel : maxLevel(config.logLevel, 'warn') }),
    version: VERSION,
  });
  deps.closers.push(() => app.close());
  // The address was held since start-up; it is free again for the moment between these two.
  await deps.reservation.release();
  try {
    return await app.listen({ host: config.listen.host, port: config.listen.port });
  } catch (err) {
    throw listenError(config, err);
  }
}

/** BotService's view when it runs here; otherwise a live ping of the shared stores. */
async function health(deps: ApiDeps): Promise<DependencyHealth[]> {
  const now = new Date().toISOString();
  const probe = async (name: DependencyHealth['name'], ping: () => Promise<void>): Promise<DependencyHealth> => {
    try {
      await ping();
      return { name, ok: true, since: now };
    } catch (err) {
      return { name, ok: false, detail: errorMessage(err), since: now };
    }
  };
  const bus = deps.events.health();
  const fromService = [...(deps.botService?.health() ?? []), { name: 'events' as const, ...bus }];
  const names = new Set(fromService.map((h) => h.name));
  // The store is pinged on every request even when BotService reports it: the service's view
  // changes only at its next pass (up to one interval late). Its entry (with its `since`)
  // is kept while the two agree.
  const storeSeen = fromService.find((h) => h.name === 'store');
  const [storeNow, ...extra] = await Promise.all(
    [
      probe('store', () => deps.store.ping(AbortSignal.timeout(3000))),
      names.has('objects') ? undefined : probe('objects', () => deps.objects.ping(AbortSignal.timeout(3000))),
    ].filter((p): p is Promise<DependencyHealth> => p !== undefined),
  );
  const store = storeSeen && storeSeen.ok === storeNow!.ok ? storeSeen : storeNow!;
  return [...fromService.filter((h) => h.name !== 'store'), store, ...extra].sort((a, b) => a.name.localeCompare(b.name));
}

const LEVEL_ORDER = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

function maxLevel(a: string, b: string): string {
  const rank = (l: string) => LEVEL_ORDER.indexOf(l as (typeof LEVEL_ORDER)[number]);
  return rank(a) >= rank(b) ? a : b;
}

function readPackageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
