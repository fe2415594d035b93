/**
 * Picks the container runtime from the `runtime` setting. `auto` uses Docker when the engine
 * answers a ping and otherwise falls back to local processes — and says why, because bots
 * then run without container isolation.
 */
import Dockerode from 'dockerode';
import { UnavailableError, errorMessage } from '../domain/errors.js';
import type { ContainerRuntime } from '../ports/runtime.js';
import { DockerRuntime } from '../adapters/runtime/docker/index.js';
import { ProcessRuntime } from '../adapters/runtime/process/process-runtime.js';
import type { ServerConfig } from '../config/load.js';
import path from 'node:path';

export interface SelectedRuntime {
  readonly runtime: ContainerRuntime;
  /** Set when the runtime is Docker (the image is built with it). */
  readonly docker?: Dockerode;
  /** Set when `auto` fell back to processes: why Docker was not used. */
  readonly fallbackReason?: string;
  /** Docker only: containers of this instance that another installation (store) made. */
  readonly foreignContainers?: number;
}

const PING_TIMEOUT_MS = 3_000;

/** Where the engine is expected, for messages. */
export function dockerEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_HOST || 'unix:///var/run/docker.sock';
}

export async function pingDocker(docker: Dockerode, timeoutMs = PING_TIMEOUT_MS): Promise<void> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    // @types/dockerode lists only the callback form of ping(options); dockerode also returns a promise.
    await (docker.ping as unknown as (this: Dockerode, options: object) => Promise<unknown>).call(docker, { abortSignal: signal });
  } catch (err) {
    const reason = signal.aborted ? `no answer within ${timeoutMs} ms` : errorMessage(err);
    throw new UnavailableError('runtime', `Docker Engine at ${dockerEndpoint()} did not answer (${reason})`, { cause: err });
  }
}

/** `installation`: the store's installation id, which Docker containers are labelled with. */
export async function selectRuntime(config: ServerConfig, installation?: string): Promise<SelectedRuntime> {
  const processRuntime = () =>
    new ProcessRuntime({
      dataDir: path.join(config.dataDir, 'processes'),
      instance: config.instance,
      ...(config.python ? { pythonPath: config.python } : {}),
      ...(config.node ? { nodePath: config.node } : {}),
    });
  if (config.runtime === 'process') return { runtime: processRuntime() };

  const docker = new Dockerode();
  try {
    await pingDocker(docker);
  } catch (err) {
    if (config.runtime === 'docker') {
      throw new UnavailableError(
        'runtime',
        `${errorMessage(err).replace(/^runtime unavailable: /, '')}. Start Docker (or set DOCKER_HOST), or run bots as local processes with --runtime process`,
        { cause: err },
      );
    }
    return { runtime: processRuntime(), fallbackReason: errorMessage(err).replace(/^runtime unavailable: /, '') };
  }
  const runtime = new DockerRuntime({ docker, instance: config.instance, ...(installation !== undefined ? { installation } : {}) });
  return { runtime, docker, foreignContainers: await runtime.foreignContainers() };
}
