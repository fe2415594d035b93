/**
 * What an end-to-end test does to bot containers from the outside, for both runtimes:
 * Docker (`docker kill`, `docker stop`) and the process runtime (SIGKILL of the
 * container's process group; a stop through the runtime's own shim).
 */
import Docker from 'dockerode';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DockerRuntime } from '../../src/adapters/runtime/docker/index.js';
import { ProcessRuntime } from '../../src/adapters/runtime/process/process-runtime.js';
import type { ActualContainer, ContainerRuntime } from '../../src/ports/runtime.js';

export interface RuntimeProbe {
  readonly runtime: ContainerRuntime;
  /** Every managed container of the bot (any state). */
  containers(botId: string): Promise<ActualContainer[]>;
  running(botId: string): Promise<ActualContainer | undefined>;
  /** Like `docker kill`: SIGKILL to everything in the container; the restart policy applies. */
  kill(container: ActualContainer): Promise<void>;
  /** Like `docker stop`: SIGTERM, grace, SIGKILL; resolves once it has exited. */
  stop(container: ActualContainer, graceSeconds: number): Promise<void>;
  close(): Promise<void>;
}

export function dockerProbe(instance: string): RuntimeProbe {
  const docker = new Docker();
  const runtime = new DockerRuntime({ docker, instance });
  return {
    runtime,
    containers: (botId) => runtime.list({ botId }),
    running: async (botId) => (await runtime.list({ botId })).find((c) => c.state === 'running'),
    kill: async (c) => {
      await docker.getContainer(c.id).kill({ signal: 'SIGKILL' });
    },
    stop: async (c, graceSeconds) => {
      await docker.getContainer(c.id).stop({ t: graceSeconds });
    },
    close: () => runtime.close(),
  };
}

export function processProbe(dataDir: string, instance: string): RuntimeProbe {
  const processesDir = join(dataDir, 'processes');
  const runtime = new ProcessRuntime({ dataDir: processesDir, instance });
  return {
    runtime,
    containers: (botId) => runtime.list({ botId }),
    running: async (botId) => (await runtime.list({ botId })).find((c) => c.state === 'running'),
    kill: async (c) => {
      const status = JSON.parse(await readFile(join(processesDir, instance, c.name, 'status.json'), 'utf8')) as {
        childPid?: number;
      };
      if (!status.childPid) throw new Error(`container ${c.name} has no running child`);
      // The child leads its own process group: kill all of it, as the kernel does for a container.
      process.kill(-status.childPid, 'SIGKILL');
    },
    stop: (c, graceSeconds) => runtime.stop(c.id, { graceSeconds }),
    close: () => runtime.close(),
  };
}
