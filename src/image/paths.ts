import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: this file is src/image/paths.ts or dist/image/paths.js. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where `npm run build` puts the bundled daemon and bootstrap.sh. */
export function defaultDaemonDir(): string {
  return join(PACKAGE_ROOT, 'dist', 'daemon');
}

/** The Dockerfile is read from the source tree; tsc does not copy it to dist. */
export const DOCKERFILE_PATH = join(PACKAGE_ROOT, 'src', 'image', 'Dockerfile');
