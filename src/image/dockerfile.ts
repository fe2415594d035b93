/**
 * The Dockerfile path: src/image/Dockerfile built by the engine, with a build context of
 * the Dockerfile and the two daemon files. Needs a registry for the base image, so only
 * the context is tested on machines without one.
 */
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import tar from 'tar-stream';
import { DAEMON_FILES } from './constants.js';
import { DOCKERFILE_PATH } from './paths.js';
import type { DaemonFiles } from './tag.js';

export interface BuildContextEntry {
  readonly name: string;
  readonly mode: number;
  readonly content: Buffer;
}

export async function dockerfileContextEntries(files: DaemonFiles, dockerfile = DOCKERFILE_PATH): Promise<BuildContextEntry[]> {
  return [
    { name: 'Dockerfile', mode: 0o644, content: await readFile(dockerfile) },
    { name: DAEMON_FILES.bundle, mode: 0o644, content: files.bundle },
    { name: DAEMON_FILES.bootstrap, mode: 0o755, content: files.bootstrap },
    ...[...files.chunks].map(([name, content]) => ({ name: `${DAEMON_FILES.chunksDir}/${name}`, mode: 0o644, content })),
  ];
}

export function contextTar(entries: readonly BuildContextEntry[]): Readable {
  const pack = tar.pack();
  for (const entry of entries) {
    pack.entry({ name: entry.name, mode: entry.mode, mtime: new Date(0), type: 'file' }, entry.content);
  }
  pack.finalize();
  return Readable.from(pack, { objectMode: false });
}

/** Builds and tags; rejects with the engine's build error. */
export async function buildWithDockerfile(
  docker: Dockerode,
  tag: string,
  files: DaemonFiles,
  options: { signal?: AbortSignal; log: (line: string) => void; buildArgs?: Record<string, string> },
): Promise<void> {
  const context = contextTar(await dockerfileContextEntries(files));
  const stream = await docker.buildImage(context, {
    t: tag,
    dockerfile: 'Dockerfile',
    rm: true,
    forcerm: true,
    ...(options.buildArgs ? { buildargs: options.buildArgs } : {}),
    abortSignal: options.signal,
  } as Dockerode.ImageBuildOptions);
  await followProgress(docker, stream, options.log);
}

interface ProgressEvent {
  readonly stream?: string;
  readonly status?: string;
  readonly error?: string;
  readonly errorDetail?: { message?: string };
}

/** Reads an engine progress stream to its end; an `error` entry rejects. */
export function followProgress(docker: Dockerode, stream: NodeJS.ReadableStream, log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (err: Error | null, output: ProgressEvent[]) => {
        const failed = err ?? output.find((e) => e.error);
        if (!failed) return resolve();
        const message = failed instanceof Error ? failed.message : (failed.errorDetail?.message ?? failed.error ?? 'unknown error');
        reject(new Error(message, { cause: err ?? undefined }));
      },
      (event: ProgressEvent) => {
        const line = (event.stream ?? event.status ?? '').trim();
        if (line) log(line);
      },
    );
  });
}
