/** What the routes share: the core services and the API's settings. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BotRegistry } from '../core/registry/bot-registry.js';
import type { LogReader } from '../core/queries/log-reader.js';
import type { RunBook } from '../core/queries/run-book.js';
import type { StateReader } from '../core/queries/state-reader.js';
import type { StatusView } from '../core/queries/status-view.js';
import type { DependencyHealth } from '../domain/status.js';

export type Registry = Pick<BotRegistry, 'uploadPackage' | 'applySpec' | 'setEnabled' | 'remove' | 'get' | 'list'>;

export interface RouteContext {
  readonly registry: Registry;
  readonly logs: LogReader;
  readonly state: StateReader;
  readonly status: StatusView;
  readonly runs: RunBook;
  readonly health: () => readonly DependencyHealth[] | Promise<readonly DependencyHealth[]>;
  readonly runtimeName: string;
  readonly version: string;
  readonly packageLimitBytes: number;
  readonly uploadDir: string | undefined;
  readonly clock: () => Date;
  /** Seconds between keep-alive blank lines on an idle log follow. */
  readonly followKeepAliveMs: number;
}

/** Aborted when the client goes away before the response is complete. */
export function requestSignal(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new Error(`client of request ${request.id} went away`));
  });
  return controller.signal;
}
