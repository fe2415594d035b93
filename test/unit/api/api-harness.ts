/**
 * The API over real embedded adapters (see ../registry/harness.ts), exercised with
 * fastify's inject or, for streaming, a real listener on 127.0.0.1.
 */
import type { FastifyInstance } from 'fastify';
import { createApi, type ApiOptions } from '../../../src/api/create-api.js';
import { LogReader } from '../../../src/core/queries/log-reader.js';
import { StateReader } from '../../../src/core/queries/state-reader.js';
import type { DependencyHealth } from '../../../src/domain/status.js';
import { openHarness, type Harness } from '../registry/harness.js';

export interface ApiHarness extends Harness {
  readonly app: FastifyInstance;
  health: DependencyHealth[];
}

export async function openApiHarness(overrides: Partial<ApiOptions> = {}, limits?: { maxBytes?: number }): Promise<ApiHarness> {
  const h = await openHarness(limits ? { limits } : {});
  const logs = new LogReader({ objects: h.objects, pollIntervalMs: 20 });
  const result: ApiHarness = Object.assign(h, {
    health: [{ name: 'store', ok: true, since: new Date(0).toISOString() }] as DependencyHealth[],
  }) as ApiHarness;
  const app = createApi({
    registry: h.registry,
    logs,
    state: new StateReader({ objects: h.objects }),
    store: h.store,
    events: h.events,
    health: () => result.health,
    runtimeName: 'docker',
    bodyLimitBytes: 1024 * 1024,
    jsonBodyLimitBytes: 64 * 1024,
    uploadDir: h.dir,
    ...overrides,
  });
  const close = h.close.bind(h);
  return Object.assign(result, {
    app,
    async close() {
      await app.close();
      await close();
    },
  });
}
