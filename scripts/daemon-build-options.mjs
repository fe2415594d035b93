// The daemon's esbuild builds, shared by scripts/bundle-daemon.mjs and the daemon tests'
// harness so that tests run the bundle as it ships.
//
// One CommonJS file, berth-daemon.cjs: Node starts a CommonJS main ~17 ms sooner than an
// ES module (it sets up no ESM loader; measured in a 1-CPU bot container), and that is paid
// on every container start. What the daemon seldom needs is imported dynamically (the S3
// adapter, yauzl for .zip packages, tar-stream for state uploads): esbuild keeps it in the
// file but runs it, and loads the Node built-ins it uses, only when first imported.
//
// The minio client (1.2 MB; only for S3 control calls, which the daemon never makes) is a
// separate ES module, chunks/minio.mjs, imported from there on first use, so the daemon
// never even parses it (about 3 MB less idle memory).
import path from 'node:path';

export const DAEMON_BUNDLE = 'berth-daemon.cjs';
const MINIO_CHUNK = 'chunks/minio.mjs';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  minify: false,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
};

/** `import('minio')` stays an import, of the chunk next to the bundle. */
const minioAsChunk = {
  name: 'minio-as-chunk',
  setup(build) {
    build.onResolve({ filter: /^minio$/ }, () => ({ path: `./${MINIO_CHUNK}`, external: true }));
  },
};

export function daemonBuilds({ entry, outdir }) {
  const main = {
    ...common,
    entryPoints: [entry],
    outfile: path.join(outdir, DAEMON_BUNDLE),
    format: 'cjs',
    plugins: [minioAsChunk],
  };
  const minio = {
    ...common,
    stdin: { contents: "export * from 'minio';", resolveDir: path.dirname(entry), loader: 'js' },
    outfile: path.join(outdir, MINIO_CHUNK),
    format: 'esm',
    // minio's CommonJS dependencies call require() on Node built-ins.
    banner: { js: "import { createRequire as __berthCreateRequire } from 'node:module'; const require = __berthCreateRequire(import.meta.url);" },
  };
  return [main, minio];
}
