/**
 * The bot image (DESIGN §5): Node 20, Python 3.11, the bundled daemon and bootstrap.sh.
 * `buildBotImage` is what `berth image build` calls; `botImageTag` is the tag services
 * run bots with.
 */
import type Dockerode from 'dockerode';
import { BerthError, UnavailableError, errorMessage } from '../domain/errors.js';
import { IMAGE_REPOSITORY, importChanges } from './constants.js';
import { defaultImageCacheDir } from './debian.js';
import { buildWithDockerfile, followProgress } from './dockerfile.js';
import { assembleRootFs } from './offline.js';
import { defaultDaemonDir } from './paths.js';
import { computeTag, cachedPythonProbe, nodeDescriptor, readDaemonFiles } from './tag.js';
import { describePython } from './python.js';

export { botImageTag } from './tag.js';
export { IMAGE_REPOSITORY } from './constants.js';

export type ImageBuildMethod = 'offline' | 'dockerfile';

export interface BuildBotImageOptions {
  readonly docker: Dockerode;
  readonly method?: ImageBuildMethod;
  /** Holds berth-daemon.cjs and bootstrap.sh; default dist/daemon. */
  readonly daemonDir?: string;
  /** Where downloaded .debs and the stripped Node are kept between builds; default $TMPDIR/berth-image-cache (or BERTH_IMAGE_CACHE_DIR). */
  readonly cacheDir?: string;
  /** Build even if an image with the tag exists. */
  readonly force?: boolean;
  readonly signal?: AbortSignal;
  readonly log?: (line: string) => void;
}

export interface BuiltImage {
  readonly tag: string;
  readonly method: ImageBuildMethod;
  /** False when an image with this tag existed already. */
  readonly builtNow: boolean;
}

export class ImageBuildError extends BerthError {
  override readonly code = 'image-build-failed';
}

/** The image id behind a tag, or undefined when there is none. */
async function imageId(docker: Dockerode, tag: string, signal?: AbortSignal): Promise<string | undefined> {
  try {
    return (await docker.getImage(tag).inspect({ abortSignal: signal } as object)).Id;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    throw new UnavailableError('runtime', `cannot inspect image ${tag}: ${errorMessage(err)}`, { cause: err });
  }
}

/** A forced rebuild leaves the old image untagged; drop it unless a container uses it. */
async function removeUntagged(docker: Dockerode, previousId: string, tag: string, signal?: AbortSignal): Promise<void> {
  if ((await imageId(docker, tag, signal)) === previousId) return;
  await docker
    .getImage(previousId)
    .remove({ abortSignal: signal } as object)
    .catch(() => undefined);
}

export async function buildBotImage(options: BuildBotImageOptions): Promise<BuiltImage> {
  const { docker, signal } = options;
  const method = options.method ?? 'offline';
  const log = options.log ?? (() => {});
  const files = await readDaemonFiles(options.daemonDir ?? defaultDaemonDir());
  const python = await cachedPythonProbe(signal);
  const tag = computeTag(files, nodeDescriptor(), describePython(python));
  const previous = await imageId(docker, tag, signal);
  if (previous && !options.force) {
    log(`image ${tag} exists`);
    return { tag, method, builtNow: false };
  }
  const started = Date.now();
  try {
    if (method === 'dockerfile') {
      await buildWithDockerfile(docker, tag, files, { signal, log });
    } else {
      if (!python) {
        throw new ImageBuildError(
          'no Python 3.11 to pack: apt cannot download python3.11 (run apt-get update?) and no local python3.11 was found; set BERTH_IMAGE_PYTHON=<path to python3.11>',
        );
      }
      log(`assembling the root filesystem (python from ${describePython(python)})`);
      const rootfs = await assembleRootFs({ files, python, cacheDir: options.cacheDir ?? defaultImageCacheDir(), signal, log });
      try {
        log(`importing ${Math.round((await rootfs.fs.contentBytes()) / 1e6)} MB as ${tag}`);
        const [repo, version] = tag.split(':');
        const stream = await docker.importImage(rootfs.fs.toTar(), {
          repo,
          tag: version,
          changes: importChanges(),
          abortSignal: signal,
        } as object);
        await followProgress(docker, stream, () => {});
      } finally {
        await rootfs.cleanup();
      }
    }
  } catch (err) {
    if (err instanceof BerthError || signal?.aborted) throw err;
    throw new ImageBuildError(`building ${tag} (${method}) failed: ${errorMessage(err)}`, { cause: err });
  }
  const size = await docker
    .getImage(tag)
    .inspect({ abortSignal: signal } as object)
    .then((info) => ` (${Math.round(info.Size / 1e6)} MB)`, () => '');
  log(`built ${tag}${size} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (previous) await removeUntagged(docker, previous, tag, signal);
  return { tag, method, builtNow: true };
}

/** The repository all bot images share, for listing or pruning old tags. */
export function isBotImageTag(tag: string): boolean {
  return tag.startsWith(`${IMAGE_REPOSITORY}:`);
}
