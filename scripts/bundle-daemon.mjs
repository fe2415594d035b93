// Bundles the in-container daemon into dist/daemon: berth-daemon.cjs and the minio client in
// chunks/ (builds in daemon-build-options.mjs), run by the bot image's own Node with no
// node_modules inside the image.
import { build } from 'esbuild';
import { daemonBuilds } from './daemon-build-options.mjs';
import { existsSync, copyFileSync, mkdirSync, chmodSync, rmSync } from 'node:fs';

const entry = 'src/daemon/main.ts';
if (!existsSync(entry)) {
  console.error(`bundle-daemon: ${entry} is missing`);
  process.exit(1);
}
mkdirSync('dist/daemon', { recursive: true });
// Chunks of an earlier build would otherwise ship in the image next to the new ones.
rmSync('dist/daemon/chunks', { recursive: true, force: true });
for (const options of daemonBuilds({ entry, outdir: 'dist/daemon' })) await build(options);
copyFileSync('src/daemon/bootstrap.sh', 'dist/daemon/bootstrap.sh');
chmodSync('dist/daemon/bootstrap.sh', 0o755);
