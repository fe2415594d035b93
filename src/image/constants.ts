/** What every bot image has, whichever way it is built. */
import { CONTAINER_PATHS } from '../domain/daemon-contract.js';

export const IMAGE_REPOSITORY = 'berth-bot';

/** Bump when the image's layout changes, so existing images are not reused. */
export const BUILDER_VERSION = '2';

/**
 * The daemon is one entry file plus lazily imported chunks (the S3 client): an idle daemon on
 * the filesystem store never loads or even parses them.
 */
export const DAEMON_FILES = { bundle: 'berth-daemon.cjs', bootstrap: 'bootstrap.sh', chunksDir: 'chunks' } as const;

export const BOT_USER = { name: 'bot', uid: CONTAINER_PATHS.botUid, gid: CONTAINER_PATHS.botGid } as const;

export const IMAGE_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin',
  LANG: 'C.UTF-8',
  PYTHONDONTWRITEBYTECODE: '1',
  PYTHONUNBUFFERED: '1',
};

export const IMAGE_CMD: readonly string[] = [CONTAINER_PATHS.bootstrap];
export const IMAGE_WORKDIR = CONTAINER_PATHS.botDir;

/** Dockerfile instructions for `docker import --change`. */
export function importChanges(): string[] {
  return [
    `CMD ${JSON.stringify(IMAGE_CMD)}`,
    `WORKDIR ${IMAGE_WORKDIR}`,
    ...Object.entries(IMAGE_ENV).map(([k, v]) => `ENV ${k}=${v}`),
  ];
}
