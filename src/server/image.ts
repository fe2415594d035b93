/**
 * The image bots run in. Docker: the configured image, or the one `berth image build`
 * builds — built offline on first use, which takes a while, so it is announced and timed.
 * Processes: no image, but the spec hash still needs a name that changes with the daemon,
 * so that a new daemon replaces running bots the way a new image would.
 */
import { createHash } from 'node:crypto';
import type Dockerode from 'dockerode';
import { NotFoundError, UnavailableError, errorMessage } from '../domain/errors.js';
import { buildBotImage } from '../image/index.js';
import { defaultDaemonDir } from '../image/paths.js';
import { readDaemonFiles } from '../image/tag.js';
import type { Announce } from './announce.js';

async function daemonDigest(daemonDir: string): Promise<string> {
  const files = await readDaemonFiles(daemonDir);
  const hash = createHash('sha256').update(files.bundle).update('\0').update(files.bootstrap);
  for (const [name, content] of files.chunks) hash.update('\0').update(name).update('\0').update(content);
  return hash.digest('hex').slice(0, 12);
}

/** The spec-hash "image" of the process runtime. Fails early when the daemon is not built. */
export async function processImageName(daemonDir = defaultDaemonDir()): Promise<string> {
  return `berth-process:${await daemonDigest(daemonDir)}`;
}

export async function ensureDockerImage(
  docker: Dockerode,
  configured: string | undefined,
  announce: Announce,
  signal?: AbortSignal,
): Promise<string> {
  if (configured) {
    try {
      await docker.getImage(configured).inspect();
      return configured;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) {
        throw new NotFoundError(
          `bot image ${configured} (setting "image") does not exist in the Docker Engine; build it with \`berth image build\` or leave BERTH_IMAGE unset to use the built-in one`,
        );
      }
      throw new UnavailableError('runtime', `cannot inspect image ${configured}: ${errorMessage(err)}`, { cause: err });
    }
  }
  const started = Date.now();
  let building = false;
  const built = await buildBotImage({
    docker,
    method: 'offline',
    ...(signal ? { signal } : {}),
    log: (line) => {
      if (!building && !/ exists$/.test(line)) {
        building = true;
        announce('the bot image is missing: building it offline now (first run only; this takes a minute or two)');
      }
    },
  });
  if (built.builtNow) announce(`built bot image ${built.tag} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return built.tag;
}

/**
 * A network mode other than host/none must exist on the engine, or every bot container
 * would fail to start (engines started with `--bridge=none` have no `bridge`).
 */
export async function checkDockerNetwork(docker: Dockerode, network: string): Promise<string | undefined> {
  if (network === 'host' || network === 'none' || network.startsWith('container:')) return undefined;
  try {
    await docker.getNetwork(network).inspect();
    return undefined;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) {
      const why = network === 'bridge' ? ' (it runs without a default bridge, e.g. dockerd --bridge=none)' : '';
      return `is not a network of this Docker Engine${why}; bots need no network for the embedded defaults: use --network none (or host)`;
    }
    throw new UnavailableError('runtime', `cannot inspect Docker network ${network}: ${errorMessage(err)}`, { cause: err });
  }
}
