// Bundles the in-container daemon into one ESM file (dist/daemon/berth-daemon.mjs) that the
// bot image runs with its own Node, with no node_modules inside the image.
import { build } from 'esbuild';
import { existsSync, copyFileSync, mkdirSync, chmodSync } from 'node:fs';

const entry = 'src/daemon/main.ts';
if (!existsSync(entry)) {
  console.error(`bundle-daemon: ${entry} is missing`);
  process.exit(1);
}
mkdirSync('dist/daemon', { recursive: true });
await build({
  entryPoints: [entry],
  outfile: 'dist/daemon/berth-daemon.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  minify: false,
  sourcemap: false,
  legalComments: 'none',
  // Some CommonJS dependencies call require() on Node built-ins.
  banner: { js: "import { createRequire as __berthCreateRequire } from 'node:module'; const require = __berthCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
copyFileSync('src/daemon/bootstrap.sh', 'dist/daemon/bootstrap.sh');
chmodSync('dist/daemon/bootstrap.sh', 0o755);
