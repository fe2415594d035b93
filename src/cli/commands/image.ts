/** `berth image build`: builds the bot image (DESIGN §5) with a Dockerfile or offline. */
import Dockerode from 'dockerode';
import { buildBotImage, type ImageBuildMethod } from '../../image/index.js';
import { pingDocker } from '../../server/runtime.js';
import type { CliContext } from '../context.js';
import { usageError } from '../errors.js';

export interface ImageBuildFlags {
  readonly offline?: boolean;
  readonly dockerfile?: boolean;
  readonly force?: boolean;
}

export function buildMethod(flags: ImageBuildFlags): ImageBuildMethod {
  if (flags.offline && flags.dockerfile) throw usageError('--offline and --dockerfile: choose one');
  return flags.dockerfile ? 'dockerfile' : 'offline';
}

export async function imageBuild(ctx: CliContext, flags: ImageBuildFlags): Promise<void> {
  const method = buildMethod(flags);
  const docker = new Dockerode();
  await pingDocker(docker);
  const started = Date.now();
  ctx.io.err(`berth: bot image: building it unless it is up to date (${method === 'offline' ? 'offline, from local files and Debian packages' : 'from the Dockerfile; needs a registry'})\n`);
  const built = await buildBotImage({
    docker,
    method,
    ...(flags.force ? { force: true } : {}),
    signal: ctx.signal,
    log: (line) => ctx.io.err(`  ${line}\n`),
  });
  ctx.io.out(
    built.builtNow
      ? `built ${built.tag} (${built.method}) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`
      : `${built.tag} is up to date (use --force to rebuild)\n`,
  );
}
